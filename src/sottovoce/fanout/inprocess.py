"""Wake-ups for connected devices within one server process (:class:`Fanout`).

The fan-out carries no message content: it only tells a device's WebSocket task
that its queue has something new, and the task reads the queue itself. That keeps
delivery at-least-once through the durable queue whatever the fan-out does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from sottovoce.fanout.listeners import LocalListeners, Wake


class InProcessFanout:
    """One :class:`Wake` per connection, announced when that device's queue grows."""

    single_node = True

    def __init__(self) -> None:
        self._listeners = LocalListeners()

    async def publish(self, device_pk: int) -> None:
        self._listeners.wake(device_pk)

    async def wake_other_nodes(self, device_pks: Collection[int]) -> None:
        """There are none."""

    @asynccontextmanager
    async def subscribe(self, device_pk: int) -> AsyncIterator[Wake]:
        event, _ = self._listeners.add(device_pk)
        try:
            yield event
        finally:
            self._listeners.remove(device_pk, event)
