"""This node's live connections, so that a row it just stored reaches them at once.

The queue stays the truth (``routes.websocket``): a connection that is busy, or
whose window is full, is only woken to read the queue, and a reconnecting device
reads everything it has not acknowledged. What this saves is the queue read per
wake when the recipient's connection is parked with nothing pending: the row the
sender's request just stored is written to it directly, on a node alone (the
in-process fan-out), where it replaces the wake-up for new rows. With Redis,
other nodes store rows for the same devices, so this node's streams are woken
to read the queue (in order) and the wake-up is published for the other nodes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Coroutine, Iterator
from typing import Any, Protocol

from sottovoce.fanout.base import Fanout
from sottovoce.storage.repository import QueuedMessage


class LiveStream(Protocol):
    """One connection's side of a push (``routes.websocket._Connection``)."""

    def offer(self, message: QueuedMessage) -> Coroutine[Any, Any, None] | None:
        """The write of ``message`` to the device when the stream is parked with
        room and nothing pending (already counted as sent), else ``None`` after
        waking the stream to read the queue."""
        ...

    def read_queue(self) -> None:
        """Wake the stream to read the queue (nothing written directly)."""
        ...


class LiveConnections:
    """Streams by device row id; a device may hold several connections."""

    def __init__(self) -> None:
        self._streams: dict[int, set[LiveStream]] = {}

    @contextlib.contextmanager
    def register(self, device_pk: int, stream: LiveStream) -> Iterator[None]:
        self._streams.setdefault(device_pk, set()).add(stream)
        try:
            yield
        finally:
            streams = self._streams.get(device_pk)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._streams[device_pk]

    async def deliver(self, fanout: Fanout, stored: list[QueuedMessage]) -> None:
        """Hand just-stored rows to this node's streams, then wake the others.

        Written directly only on a node alone: with other nodes about, one of them
        may have stored an earlier row for the same device (the sender's previous
        message, sent through another node) whose wake-up has not arrived yet, and
        a direct write would overtake it (tests/chaos: per-sender order). There the
        streams read the queue, which holds every row committed before this one."""
        if fanout.single_node:
            writes = [
                write
                for message in stored
                for stream in tuple(self._streams.get(message.recipient_device_pk, ()))
                if (write := stream.offer(message)) is not None
            ]
            for write in writes:
                await write
            return
        for message in stored:
            for stream in tuple(self._streams.get(message.recipient_device_pk, ())):
                stream.read_queue()
        await fanout.wake_other_nodes({message.recipient_device_pk for message in stored})

    async def wake(self, fanout: Fanout, device_pks: Collection[int]) -> None:
        """Have these devices' streams read their queues, here and on the other
        nodes, for rows stored without :meth:`deliver`: a retry answered as one
        (``sending.queue_copies``), whose first attempt's node may have stopped
        between its commit and its wake-ups. Those rows would otherwise wait for
        the devices' next message, or the stream's recheck a minute later."""
        for device_pk in device_pks:
            for stream in tuple(self._streams.get(device_pk, ())):
                stream.read_queue()
        await fanout.wake_other_nodes(device_pks)
