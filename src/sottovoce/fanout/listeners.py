"""The connections one node holds, by device: what every fan-out wakes locally."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator


class Wake(asyncio.Event):
    """A connection's wake-up. ``announced`` says the fan-out set it: something
    happened that this node's connection cannot see otherwise (a suspension, a
    claimed prekey), so the connection re-reads what it holds as facts about its
    device. Rows stored (by this node's pushes, or by another node), and acks, set
    it with plain ``set`` and leave ``announced`` alone: a queue read covers them."""

    def __init__(self) -> None:
        super().__init__()
        self.announced = False

    def announce(self) -> None:
        self.announced = True
        self.set()


class LocalListeners:
    """One :class:`Wake` per live connection, grouped by the device it serves."""

    def __init__(self) -> None:
        self._events: dict[int, set[Wake]] = defaultdict(set)

    def add(self, device_pk: int) -> tuple[Wake, bool]:
        """A new connection's event, and whether it is the device's first on this node."""
        event = Wake()
        first = not self._events.get(device_pk)
        self._events[device_pk].add(event)
        return event, first

    def remove(self, device_pk: int, event: Wake) -> bool:
        """Forget a closed connection; whether it was the device's last on this node."""
        events = self._events.get(device_pk)
        if events is None:
            return False
        events.discard(event)
        if events:
            return False
        del self._events[device_pk]
        return True

    def wake(self, device_pk: int) -> None:
        for event in self._events.get(device_pk, ()):
            event.announce()

    def nudge(self, device_pk: int) -> None:
        """Rows were stored for the device elsewhere: its connections read the queue."""
        for event in self._events.get(device_pk, ()):
            event.set()

    def wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.announce()

    def devices(self) -> Iterator[int]:
        """The devices with a connection here (a snapshot: safe to await between)."""
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)
