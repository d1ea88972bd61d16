"""The replay cache and request rates shared by every node, in Redis.

On one node both live in memory (auth.NonceCache, state.RateLimiter). Behind a
load balancer a replayed request could reach another node, and a device could
multiply its rate by the node count, so with Redis configured each node also
checks these. Redis holds no content: a nonce key is (address, device, nonce)
for the skew window, a bucket is two numbers per device. Bucket keys carry the
deployment's namespace: device and account row ids repeat across databases, so
deployments sharing one Redis (the test suite's, a staging and a production
fleet) would otherwise drain each other's buckets.

If Redis fails, a node answers from its memory alone (still refusing a replay or
a flood seen by this node) and logs once, rather than refusing every request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from sottovoce.storage.rounds import Rounds

NONCE_PREFIX = "sv:nonce:"
BUCKET_PREFIX = "sv:rate:"
# Sealed sends carry no device, so their bucket is the recipient account's.
SEALED_RECIPIENT_PREFIX = "sv:sealed:"
_REDIS_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
# After a failure, requests skip Redis for this long instead of each waiting on it.
RETRY_AFTER_S = 1.0

# Token buckets, one per key, updated atomically on the Redis server: refill at
# ``rate`` per second up to ``burst``, take one token if there is one. A key
# expires once a full refill has passed, so idle devices cost nothing. The clock
# is the Redis server's: with the nodes' own clocks, concurrent requests (or a
# node whose clock lags) would move the bucket's time back and count a refill
# twice. One call takes from every key it is given (KEYS[i], with ARGV[2i-1] and
# ARGV[2i] its rate and burst), in order: the concurrent requests of a node share
# one round trip (:class:`SharedLimits`); a key named twice gives two tokens.
BUCKET_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local allowed = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  allowed[i] = 0
  if tokens >= 1 then
    tokens = tokens - 1
    allowed[i] = 1
  end
  redis.call('HSET', key, 't', tokens, 'at', now)
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return allowed
"""

log = logging.getLogger("sottovoce.server.shared_limits")

# Of the deployment's transparency log key: 64 bits tell deployments apart.
NAMESPACE_KEY_BYTES = 8


def deployment_namespace(log_key: bytes) -> str:
    """The part of every row-id keyed Redis key (request buckets here, the daily
    abuse counts) that keeps deployments sharing one Redis apart: their
    transparency log's public key names them (``server.cluster``)."""
    return log_key[:NAMESPACE_KEY_BYTES].hex()


class SharedLimits:
    def __init__(self, client: Redis, rate: float, burst: int, namespace: str) -> None:
        self._redis = client
        self._namespace = namespace
        self._rate = rate
        self._burst = burst
        self._take = client.register_script(BUCKET_SCRIPT)
        # Every frame takes a token before anything else: the takes that arrive
        # while one call is on its way go together in the next (storage.rounds).
        self._takes: Rounds[tuple[str, float, int], bool | None] = Rounds(self._take_round)
        self._warned = False
        self._down_until = 0.0

    def _failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER_S
        if not self._warned:
            log.warning("redis unavailable (%s); replay cache and rates are per node", exc)
            self._warned = True

    def _skipping(self) -> bool:
        return time.monotonic() < self._down_until

    async def first_use(self, address: str, device_id: int, nonce: str, ttl_ms: int) -> bool:
        """False if any node already accepted this nonce of this device in the window."""
        if self._skipping():
            return True
        try:
            stored = await self._redis.set(
                f"{NONCE_PREFIX}{address}:{device_id}:{nonce}", b"", nx=True, px=max(1, ttl_ms)
            )
        except _REDIS_FAILURES as exc:
            self._failed(exc)
            return True
        self._warned = False
        return bool(stored)

    async def allow(self, device_pk: int) -> bool | None:
        """Whether the device may make one more request; None if Redis cannot say."""
        return await self.take(
            f"{BUCKET_PREFIX}{self._namespace}:{device_pk}", self._rate, self._burst
        )

    def buckets(self, prefix: str, rate: float, burst: int) -> SharedBuckets:
        """Another family of shared token buckets (another limit, other keys)."""
        return SharedBuckets(self, f"{prefix}{self._namespace}:", rate, burst)

    async def take(self, key: str, rate: float, burst: int) -> bool | None:
        """One token from bucket ``key`` (refilled at ``rate`` up to ``burst``);
        None if Redis cannot say."""
        if self._skipping():
            return None
        return await self._takes.submit((key, rate, burst))

    async def _take_round(
        self, takes: Sequence[tuple[str, float, int]]
    ) -> list[bool | Exception | None]:
        try:
            allowed = await self._take(
                keys=[key for key, _, _ in takes],
                args=[value for _, rate, burst in takes for value in (rate, burst)],
            )
        except _REDIS_FAILURES as exc:
            self._failed(exc)
            return [None] * len(takes)
        self._warned = False
        return [bool(a) for a in allowed]


class SharedBuckets:
    """Token buckets of one limit, one per key, counted across every node (a
    :class:`~sottovoce.server.state.RateLimiter`'s ``shared``)."""

    def __init__(self, limits: SharedLimits, prefix: str, rate: float, burst: int) -> None:
        self._limits = limits
        self._prefix = prefix
        self._rate = rate
        self._burst = burst

    async def allow(self, key: int) -> bool | None:
        """Whether one more request fits under key's bucket; None if Redis cannot say."""
        return await self._limits.take(f"{self._prefix}{key}", self._rate, self._burst)
