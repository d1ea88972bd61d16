"""The daily abuse counters shared by every node, in Redis (docs/safety.md).

On one node the distinct strangers an account wrote to today and the groups it
created today are counted in memory (``abuse.controls``). Behind a load balancer
a spammer would multiply its allowance by the node count, so when the node joined
Redis (``server.cluster``, the same client as the fan-out and the shared request
rates) each check is one atomic script on the Redis server: test the allowance
and count in one step, on a key that expires when the UTC day ends.

Redis then holds, until the day ends, what one node holds in memory: for each
account that wrote unsealed messages today the row ids of its recipients, and
for each account that created a group today how many. No content, no handle.

If Redis fails, the node counts in its memory alone (still bounding what reaches
it) and logs once, as the shared replay cache and request rates do.
"""

from __future__ import annotations

import logging
import time

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from sottovoce.server.shared_limits import RETRY_AFTER_S

RECIPIENTS_PREFIX = "sv:abuse:recipients:"
GROUPS_PREFIX = "sv:abuse:groups:"
DAY_MS = 86_400_000
_REDIS_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)

# Count ARGV[1] as a recipient of today's set unless the set already holds it or
# is full at ARGV[2]; the key expires at ARGV[3] (ms). 1 = admitted, 0 = refused.
RECIPIENT_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return 1
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
"""

# Take one of today's ARGV[1] allowed creations, the key expiring at ARGV[2] (ms).
CREATION_SCRIPT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  return 0
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""

log = logging.getLogger("sottovoce.server.abuse.shared_counts")


def _day_ends_ms(day: int) -> int:
    return (day + 1) * DAY_MS


class SharedDailyCounts:
    """Atomic daily allowances across nodes; ``None`` answers mean "ask memory"."""

    def __init__(self, client: Redis, namespace: str) -> None:
        # Account ids are per database: keys carry the deployment's namespace
        # (shared_limits.deployment_namespace) so deployments sharing one Redis, as
        # the test suite's many databases do, never mix their counts.
        self._namespace = namespace
        self._recipient = client.register_script(RECIPIENT_SCRIPT)
        self._creation = client.register_script(CREATION_SCRIPT)
        self._down_until = 0.0
        self._warned = False

    async def admit_recipient(
        self, day: int, account_id: int, recipient_id: int, allowed: int
    ) -> bool | None:
        """Whether ``account_id`` may reach ``recipient_id`` today, counting it if new."""
        return await self._run(
            self._recipient,
            f"{RECIPIENTS_PREFIX}{self._namespace}:{day}:{account_id}",
            [recipient_id, allowed, _day_ends_ms(day)],
        )

    async def admit_group(self, day: int, account_id: int, allowed: int) -> bool | None:
        """Whether ``account_id`` may create one more group today, counting it."""
        return await self._run(
            self._creation,
            f"{GROUPS_PREFIX}{self._namespace}:{day}:{account_id}",
            [allowed, _day_ends_ms(day)],
        )

    async def _run(self, script: AsyncScript, key: str, args: list[int]) -> bool | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            admitted = await script(keys=[key], args=args)
        except _REDIS_FAILURES as exc:
            self._down_until = time.monotonic() + RETRY_AFTER_S
            if not self._warned:
                log.warning("redis unavailable (%s); abuse counters are per node", exc)
                self._warned = True
            return None
        self._warned = False
        return bool(admitted)
