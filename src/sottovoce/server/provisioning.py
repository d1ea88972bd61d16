"""The relay for linking a new device: one opaque message per one-time channel.

As in Signal's provisioning, the new device opens a channel and shows its id and
an ephemeral public key as a linking code; an existing device of the account
encrypts the provisioning message to that key and posts it here; the new device
collects it. The server only ever holds ciphertext, in memory, for minutes.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field

from sottovoce.crypto.random import random_bytes
from sottovoce.server import limits

# 128 random bits: the channel id is the capability to collect its message.
CHANNEL_ID_BYTES = 16


class ChannelUnknown(Exception):
    """No open channel has this id (never opened, expired, or already used)."""


class TooManyChannels(Exception):
    """The relay holds MAX_PROVISIONING_CHANNELS channels already."""


@dataclass
class _Channel:
    opened: float
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    message: bytes | None = None


class ProvisioningRelay:
    def __init__(self, ttl_s: float = limits.PROVISIONING_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._channels: dict[str, _Channel] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, c in self._channels.items() if now - c.opened > self._ttl_s]:
            del self._channels[key]

    def open(self) -> str:
        self._expire()
        if len(self._channels) >= limits.MAX_PROVISIONING_CHANNELS:
            raise TooManyChannels("too many devices are being linked right now")
        channel = base64.urlsafe_b64encode(random_bytes(CHANNEL_ID_BYTES)).decode().rstrip("=")
        self._channels[channel] = _Channel(time.monotonic())
        return channel

    def deliver(self, channel: str, message: bytes) -> None:
        self._expire()
        entry = self._channels.get(channel)
        if entry is None or entry.message is not None:
            raise ChannelUnknown(channel)
        entry.message = message
        entry.arrived.set()

    async def collect(self, channel: str, wait_s: float) -> bytes | None:
        """The message once it arrives (the channel closes), or None after ``wait_s``."""
        self._expire()
        entry = self._channels.get(channel)
        if entry is None:
            raise ChannelUnknown(channel)
        try:
            await asyncio.wait_for(entry.arrived.wait(), wait_s)
        except TimeoutError:
            return None
        self._channels.pop(channel, None)
        return entry.message
