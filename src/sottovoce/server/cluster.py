"""Joining the other nodes through Redis: cross-node wake-ups, the shared replay
cache and shared request rates (docs/operations.md). Without a Redis URL the node
runs on its own with all three in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sottovoce.server.state import ServerState

# Loopback or a LAN: a Redis that takes longer than this is treated as down and
# the node carries on alone (polling the queue) rather than stall requests.
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 2.0


@asynccontextmanager
async def joined(state: ServerState) -> AsyncIterator[None]:
    url = state.settings.redis_url
    if url is None:
        yield
        return
    # Imported here: redis-py and the Redis-backed parts are ~65 modules (~6 MiB of
    # RSS) that a node running alone never uses (docs/performance.md, memory).
    from redis import exceptions as redis_errors
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from sottovoce.fanout.redis import RedisFanout
    from sottovoce.server import limits
    from sottovoce.server.abuse.shared_counts import SharedDailyCounts
    from sottovoce.server.shared_limits import (
        SEALED_RECIPIENT_PREFIX,
        SharedLimits,
        deployment_namespace,
    )

    client = Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        # A pooled connection that a Redis restart cut fails on its next use: one
        # immediate retry on a new connection hides that from the request.
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis_errors.ConnectionError, redis_errors.TimeoutError],
    )
    fanout = RedisFanout(client)
    # Row-id keyed counters and buckets, apart per deployment: its log key names it.
    log_key = state.directory.public_key if state.directory is not None else b""
    namespace = deployment_namespace(log_key)
    shared = SharedLimits(
        client,
        state.settings.limits.requests_per_second,
        state.settings.limits.request_burst,
        namespace=namespace,
    )
    state.fanout = fanout
    state.nonces.shared = shared
    # Abuse counters (docs/safety.md).
    state.safety.shared = SharedDailyCounts(client, namespace)
    state.rate.shared = shared
    state.sealed_recipients.shared = shared.buckets(
        SEALED_RECIPIENT_PREFIX,
        limits.SEALED_SENDS_PER_SECOND_PER_RECIPIENT,
        limits.SEALED_SEND_BURST_PER_RECIPIENT,
    )
    await fanout.start()
    try:
        yield
    finally:
        await fanout.close()
        await client.aclose()
