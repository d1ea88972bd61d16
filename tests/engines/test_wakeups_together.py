"""The wake-ups of concurrent sends go out together (fanout.redis._Wakeups): the
devices named while a publication is on its way share the next one, every
caller returns only once its own devices went out, and a caller that gives up
takes no one else's wake-up with it. Across two real nodes' fan-outs, every
device woken concurrently is nudged on the other node."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

from sottovoce.fanout.redis import RedisFanout, _Wakeups

# Loopback Redis answers in well under a millisecond; this only bounds a failure.
WAKE_TIMEOUT_S = 5.0


class HeldPublish:
    """A publication that waits until released, recording what each one carried."""

    def __init__(self) -> None:
        self.batches: list[set[int]] = []
        self.release = asyncio.Event()

    async def __call__(self, device_pks: Collection[int]) -> None:
        self.batches.append(set(device_pks))
        await self.release.wait()


async def test_devices_named_during_a_publication_share_the_next() -> None:
    publish = HeldPublish()
    wakeups = _Wakeups(publish)
    first = asyncio.create_task(wakeups.wake({1}))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert publish.batches == [{1}]  # a lone send publishes at once
    later = [asyncio.create_task(wakeups.wake({pk, 100})) for pk in (2, 3, 4)]
    await asyncio.sleep(0)
    assert not first.done() and not any(task.done() for task in later)
    publish.release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), WAKE_TIMEOUT_S)
    assert publish.batches == [{1}, {2, 3, 4, 100}]


async def test_a_caller_that_gives_up_leaves_the_others_theirs() -> None:
    publish = HeldPublish()
    wakeups = _Wakeups(publish)
    first = asyncio.create_task(wakeups.wake({1}))
    await asyncio.sleep(0)
    gives_up = asyncio.create_task(wakeups.wake({2}))
    stays = asyncio.create_task(wakeups.wake({3}))
    await asyncio.sleep(0)
    gives_up.cancel()
    publish.release.set()
    await asyncio.wait_for(asyncio.gather(first, stays), WAKE_TIMEOUT_S)
    assert gives_up.cancelled()
    assert publish.batches == [{1}, {2, 3}]


async def test_closing_returns_the_callers_of_a_publication_on_its_way() -> None:
    publish = HeldPublish()  # never released
    wakeups = _Wakeups(publish)
    caller = asyncio.create_task(wakeups.wake({1}))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await asyncio.wait_for(wakeups.close(), WAKE_TIMEOUT_S)
    await asyncio.wait_for(caller, WAKE_TIMEOUT_S)


async def test_concurrent_sends_wake_every_device_on_the_other_node(
    two_fanouts: tuple[RedisFanout, RedisFanout],
) -> None:
    a, b = two_fanouts
    devices = range(5_000_001, 5_000_033)
    async with contextlib.AsyncExitStack() as stack:
        wakes = [await stack.enter_async_context(b.subscribe(pk)) for pk in devices]
        for wake in wakes:
            wake.clear()
        await asyncio.wait_for(
            asyncio.gather(*(a.wake_other_nodes({pk}) for pk in devices)), WAKE_TIMEOUT_S
        )
        await asyncio.wait_for(asyncio.gather(*(wake.wait() for wake in wakes)), WAKE_TIMEOUT_S)
        assert not any(wake.announced for wake in wakes)  # a queue read only
