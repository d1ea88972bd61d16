"""The in-process fan-out: wake-ups reach exactly the subscribed device's connections."""

from __future__ import annotations

from sottovoce.fanout.base import Fanout
from sottovoce.fanout.inprocess import InProcessFanout


async def test_a_publish_wakes_every_connection_of_that_device_only() -> None:
    fanout: Fanout = InProcessFanout()
    async with (
        fanout.subscribe(1) as first,
        fanout.subscribe(1) as second,
        fanout.subscribe(2) as other,
    ):
        await fanout.publish(1)
        assert first.is_set() and second.is_set()
        assert not other.is_set()
    # After the connections close, publishing reaches nobody and keeps nothing.
    await fanout.publish(1)
    assert not other.is_set()


async def test_a_closed_connection_no_longer_hears() -> None:
    fanout = InProcessFanout()
    async with fanout.subscribe(7) as stays:
        async with fanout.subscribe(7) as leaves:
            pass
        leaves.clear()
        await fanout.publish(7)
        assert stays.is_set() and not leaves.is_set()
