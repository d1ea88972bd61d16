"""A row a node just stored is written straight to its recipient's parked stream
only on a node alone. With other nodes about (Redis), another node may have stored
the same sender's previous message, whose wake-up has not arrived yet: a direct
write would overtake it, so the stream is woken to read the queue, in id order
(tests/chaos/test_many_nodes.py found such an overtaking as a per-sender order
failure)."""

from __future__ import annotations

from collections.abc import Collection, Coroutine
from typing import Any

from sottovoce.server.live import LiveConnections
from sottovoce.storage.repository import QueuedMessage

DEVICE = 7


class Fanout:
    def __init__(self, single_node: bool) -> None:
        self.single_node = single_node
        self.woken_elsewhere: list[set[int]] = []

    async def publish(self, device_pk: int) -> None:
        raise AssertionError("a stored row is not a change of the device's facts")

    async def wake_other_nodes(self, device_pks: Collection[int]) -> None:
        self.woken_elsewhere.append(set(device_pks))


class Stream:
    def __init__(self) -> None:
        self.written: list[int] = []
        self.woken = 0

    def offer(self, message: QueuedMessage) -> Coroutine[Any, Any, None] | None:
        async def write() -> None:
            self.written.append(message.id)

        return write()

    def read_queue(self) -> None:
        self.woken += 1


def _row(queue_id: int) -> QueuedMessage:
    return QueuedMessage(queue_id, DEVICE, "bob@chat", 1, f"m{queue_id}", "message", b"x", 0)


async def test_a_node_alone_writes_the_row_to_the_stream() -> None:
    live, stream, fanout = LiveConnections(), Stream(), Fanout(single_node=True)
    with live.register(DEVICE, stream):
        await live.deliver(fanout, [_row(5)])  # type: ignore[arg-type]
    assert stream.written == [5]
    assert stream.woken == 0


async def test_with_other_nodes_the_stream_reads_the_queue_instead() -> None:
    live, stream, fanout = LiveConnections(), Stream(), Fanout(single_node=False)
    with live.register(DEVICE, stream):
        await live.deliver(fanout, [_row(5), _row(6)])  # type: ignore[arg-type]
    assert stream.written == []
    assert stream.woken == 2
    assert fanout.woken_elsewhere == [{DEVICE}]
