"""Redis wake-ups for a row a node just stored reach the other nodes, not its own
connections (the node hands the row to those itself, ``server.live``), and ask
them for a queue read only; a plain publish (a suspension, a claimed prekey)
still wakes every node's, announced, so they re-read their device's facts."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from sottovoce.fanout.redis import RedisFanout
from tests.support import services

# Loopback Redis answers in well under a millisecond; this only bounds a failure.
WAKE_TIMEOUT_S = 5.0


async def test_a_stored_rows_wake_up_skips_the_storing_node(
    two_fanouts: tuple[RedisFanout, RedisFanout],
) -> None:
    a, b = two_fanouts
    device_pk = 4_000_001  # a row id no other test's node subscribes to
    marker_pk = 4_000_003
    async with (
        a.subscribe(device_pk) as on_a,
        a.subscribe(marker_pk) as marker,
        b.subscribe(device_pk) as on_b,
    ):
        await a.wake_other_nodes({device_pk})
        await asyncio.wait_for(on_b.wait(), WAKE_TIMEOUT_S)
        assert not on_b.announced  # rows: b's connection reads its queue, nothing more
        # Redis sends a's subscription its messages in order: once the marker
        # published after it arrived, the wake-up would have arrived too.
        await a.publish(marker_pk)
        await asyncio.wait_for(marker.wait(), WAKE_TIMEOUT_S)
        assert not on_a.is_set()
        on_b.clear()
        await a.publish(device_pk)
        await asyncio.wait_for(on_a.wait(), WAKE_TIMEOUT_S)
        await asyncio.wait_for(on_b.wait(), WAKE_TIMEOUT_S)
        assert on_a.announced and on_b.announced


async def test_one_wake_up_reaches_several_devices(
    two_fanouts: tuple[RedisFanout, RedisFanout],
) -> None:
    a, b = two_fanouts
    async with b.subscribe(4_000_004) as first, b.subscribe(4_000_005) as second:
        await a.wake_other_nodes({4_000_004, 4_000_005})
        await asyncio.wait_for(first.wait(), WAKE_TIMEOUT_S)
        await asyncio.wait_for(second.wait(), WAKE_TIMEOUT_S)


async def test_with_redis_down_a_stored_rows_wake_up_is_left_to_polling() -> None:
    fanout = RedisFanout(Redis.from_url(services.redis().url))  # never started
    async with fanout.subscribe(4_000_002) as wake:
        await fanout.wake_other_nodes({4_000_002})
        assert not wake.is_set()
