"""What every handler shares: storage, fan-out, replay cache, rate limits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from sottovoce.fanout.base import Fanout
from sottovoce.fanout.inprocess import InProcessFanout
from sottovoce.server.auth import NonceCache
from sottovoce.server.settings import Settings
from sottovoce.storage.repository import Repository


class RateLimiter:
    """A token bucket per device (in memory, per node)."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[int, tuple[float, float]] = {}

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


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.sottovoce
    return state
