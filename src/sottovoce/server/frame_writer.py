"""What one connection writes in one loop turn goes out as one WebSocket frame.

Several tasks write to a device's socket: its queue stream, the pushes of rows
other connections' sends just stored, the answers to its own sends. Each frame
costs the server a pass through Starlette's and uvicorn's send path and the
client a read; when several are ready at once (a backlog batch, the answers of
one storage round, the pushes that round made), a client that negotiated
``batch`` frames (docs/api.md) gets them in one: ``{"type": "batch", "frames":
[...]}``, each inner frame as it would have come alone, in the order written.

There is no timer, as in the storage rounds (``storage.rounds``): a frame written
while no write is pending waits one pass of the event loop, so that what the
other tasks that woke with it write joins it; one written while a write is
pending joins the next frame. A client that did not negotiate batches gets its
frames one by one, in the same order.
"""

from __future__ import annotations

import asyncio

from fastapi import WebSocket

from sottovoce.server import limits


class FrameWriter:
    """The frames waiting to be written to one socket, in order."""

    __slots__ = ("_pending", "_websocket", "_writing", "batches")

    def __init__(self, websocket: WebSocket, *, batches: bool) -> None:
        self._websocket = websocket
        self._pending: list[str] = []
        self._writing = False
        # Whether the client negotiated ``batch`` frames (routes.websocket).
        self.batches = batches

    def queue(self, frame: str) -> None:
        """Add a frame (JSON text) to the next write; :meth:`flush` writes it."""
        self._pending.append(frame)

    async def write(self, frame: str) -> None:
        self._pending.append(frame)
        await self.flush()

    async def flush(self) -> None:
        """Write what is queued, unless a write is under way: that one writes it
        after its own (returning before the frame is on the wire). A socket error
        reaches the caller that was writing; the frames still queued are dropped
        with the connection (the queue is the truth: unacknowledged rows come
        again on the next one)."""
        if self._writing or not self._pending:
            return
        self._writing = True
        try:
            if self.batches:
                await asyncio.sleep(0)  # the frames the tasks woken with this one write
            while self._pending:
                frames, self._pending = self._pending, []
                if not self.batches:
                    for frame in frames:
                        await self._websocket.send_text(frame)
                    continue
                for batch in _batches(frames):
                    await self._websocket.send_text(batch)
        except BaseException:
            self._pending.clear()
            raise
        finally:
            self._writing = False


def _batches(frames: list[str]) -> list[str]:
    """``frames`` as few frames as ``MAX_SERVER_BATCH_BYTES`` allows: a lone frame
    as it is, several joined into a ``batch`` (no JSON serialized again)."""
    out: list[str] = []
    group: list[str] = []
    size = 0
    for frame in frames:
        group.append(frame)
        size += len(frame)
        if size >= limits.MAX_SERVER_BATCH_BYTES:
            out.append(_joined(group))
            group, size = [], 0
    if group:
        out.append(_joined(group))
    return out


def _joined(group: list[str]) -> str:
    if len(group) == 1:
        return group[0]
    return '{"type": "batch", "frames": [' + ", ".join(group) + "]}"
