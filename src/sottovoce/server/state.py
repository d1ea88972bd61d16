"""What every handler shares: storage, fan-out, replay cache, rate limits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from sottovoce.fanout.base import Fanout
from sottovoce.fanout.inprocess import InProcessFanout
from sottovoce.server import limits
from sottovoce.server.abuse.controls import SafetyControls
from sottovoce.server.auth import NonceCache
from sottovoce.server.live import LiveConnections
from sottovoce.server.provisioning import ProvisioningRelay
from sottovoce.server.settings import Settings
from sottovoce.server.transparency.directory import KeyDirectory
from sottovoce.storage.repository import Repository
from sottovoce.storage.safety import SafetyStore

if TYPE_CHECKING:  # redis-py is loaded only on a node that joins others (server.cluster)
    from sottovoce.server.shared_limits import SharedBuckets, SharedLimits


class RateLimiter:
    """A token bucket per device (in memory, per node)."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[int, tuple[float, float]] = {}
        # With Redis (many nodes), one bucket per device across every node.
        self.shared: SharedLimits | SharedBuckets | None = None

    async def admit(self, device_pk: int) -> bool:
        """:meth:`allow`, counted across nodes when Redis is configured (and per node
        while Redis cannot answer)."""
        if self.shared is not None:
            allowed = await self.shared.allow(device_pk)
            if allowed is not None:
                return allowed
        return self.allow(device_pk)

    def allow(self, device_pk: int) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(device_pk, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[device_pk] = (tokens, now)
            return False
        self._buckets[device_pk] = (tokens - 1.0, now)
        return True


@dataclass
class ServerState:
    settings: Settings
    repo: Repository
    fanout: Fanout = field(default_factory=InProcessFanout)
    nonces: NonceCache = field(default_factory=NonceCache)
    rate: RateLimiter = field(init=False)
    # Sealed sends carry no device signature: one bucket per recipient account.
    sealed_recipients: RateLimiter = field(init=False)
    # Minors, reported blocks, stranger and group rate limits, standing (docs/safety.md).
    safety: SafetyControls = field(init=False)
    # Set by the app's lifespan once the log is loaded (issue 3: key transparency).
    directory: KeyDirectory | None = None
    provisioning: ProvisioningRelay = field(default_factory=ProvisioningRelay)
    # This node's WebSocket streams: rows it stores are pushed to them (server.live).
    live: LiveConnections = field(default_factory=LiveConnections)
    _seen_day: dict[int, int] = field(default_factory=dict)

    async def record_connection(self, device_pk: int, day: int) -> None:
        """Keep the coarse last-connection day, writing at most once per device a day."""
        if self._seen_day.get(device_pk) != day:
            await self.repo.touch_device(device_pk, day)
            self._seen_day[device_pk] = day

    def __post_init__(self) -> None:
        self.rate = RateLimiter(
            self.settings.limits.requests_per_second, self.settings.limits.request_burst
        )
        self.sealed_recipients = RateLimiter(
            limits.SEALED_SENDS_PER_SECOND_PER_RECIPIENT, limits.SEALED_SEND_BURST_PER_RECIPIENT
        )
        self.safety = SafetyControls(SafetyStore(self.repo.engine), self.settings.app_policies)
        # A suspension wakes the account's live connections on every node, to close them.
        self.safety.wake = lambda device_pk: self.fanout.publish(device_pk)


# The FastAPI dependencies below are coroutines although they never wait: FastAPI
# runs a plain ``def`` dependency on a worker thread of anyio's pool, so every signed
# request paid a thread round trip, and the pool's threads (up to 40, each with its
# own malloc arena) and anyio's thread backend stayed resident: ~6.5 MiB more RSS
# after 300 signed requests (docs/performance.md, memory).


async def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.sottovoce
    return state


async def key_directory(request: Request) -> KeyDirectory:
    state: ServerState = request.app.state.sottovoce
    if state.directory is None:
        raise RuntimeError("the key directory is not loaded")
    return state.directory
