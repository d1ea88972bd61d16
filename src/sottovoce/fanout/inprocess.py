"""Wake-ups for connected devices within one server process (:class:`Fanout`).

The fan-out carries no message content: it only tells a device's WebSocket task
that its queue has something new, and the task reads the queue itself. That keeps
delivery at-least-once through the durable queue whatever the fan-out does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class InProcessFanout:
    """One ``asyncio.Event`` per connection, set when that device's queue grows."""

    def __init__(self) -> None:
        self._listeners: dict[int, set[asyncio.Event]] = defaultdict(set)

    async def publish(self, device_pk: int) -> None:
        for event in self._listeners.get(device_pk, ()):
            event.set()

    @asynccontextmanager
    async def subscribe(self, device_pk: int) -> AsyncIterator[asyncio.Event]:
        event = asyncio.Event()
        self._listeners[device_pk].add(event)
        try:
            yield event
        finally:
            listeners = self._listeners.get(device_pk)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._listeners[device_pk]
