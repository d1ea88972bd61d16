"""The app's live feed (``app.session.Feed``): every tab gets every event in order,
and a tab that falls ``FEED_QUEUE`` events behind is told so (its socket is then
closed with ``FELL_BEHIND``) instead of silently getting nothing more."""

from __future__ import annotations

import asyncio

import pytest

from sottovoce.app.session import FEED_QUEUE, Feed, FellBehind


def event(n: int) -> dict[str, object]:
    return {"type": "changed", "conversation": f"peer-{n}"}


async def test_each_subscriber_gets_every_event_in_order() -> None:
    feed = Feed()
    first, second = feed.subscribe(), feed.subscribe()
    for n in range(FEED_QUEUE):
        feed.publish(event(n))
    for subscription in (first, second):
        assert [await subscription.next() for _ in range(FEED_QUEUE)] == [
            event(n) for n in range(FEED_QUEUE)
        ]
        assert not subscription.fell_behind


async def test_a_full_queue_makes_only_that_subscriber_fall_behind() -> None:
    feed = Feed()
    slow, fast = feed.subscribe(), feed.subscribe()
    for n in range(FEED_QUEUE):
        feed.publish(event(n))
    for n in range(FEED_QUEUE):
        assert await fast.next() == event(n)
    feed.publish(event(FEED_QUEUE))  # one more than the slow one can hold
    assert slow.fell_behind
    with pytest.raises(FellBehind):
        await slow.next()  # at once, although events are still queued
    with pytest.raises(FellBehind):
        await slow.next()  # and for good: it resubscribes when it reconnects
    assert await fast.next() == event(FEED_QUEUE)
    # Later events still reach the others; the one behind is no longer fed.
    feed.publish(event(FEED_QUEUE + 1))
    assert await fast.next() == event(FEED_QUEUE + 1)
    assert slow not in feed._subscriptions


async def test_a_waiting_reader_learns_it_fell_behind() -> None:
    """The socket's sender waits in ``next()``; a burst that overflows the queue
    before it runs again must end it, or the tab would keep a socket that carries
    nothing."""
    feed = Feed()
    subscription = feed.subscribe()
    reader = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)
    assert not reader.done()
    for n in range(FEED_QUEUE + 1):  # one burst, the reader never runs in between
        feed.publish(event(n))
    with pytest.raises(FellBehind):
        await reader

    calm = feed.subscribe()
    reader = asyncio.create_task(calm.next())
    await asyncio.sleep(0)
    feed.publish(event(0))
    assert await reader == event(0)


async def test_unsubscribed_gets_nothing() -> None:
    feed = Feed()
    subscription = feed.subscribe()
    feed.unsubscribe(subscription)
    feed.publish(event(1))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(subscription.next(), 0.05)
