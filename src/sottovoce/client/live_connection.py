"""The device's WebSocket as the SDK holds it: delivered frames, and sends on it.

While :meth:`Client.listen` holds the live connection, messages are sent as
``send`` frames on it (docs/api.md) instead of one signed HTTP request each: the
upgrade authenticated the device once, so a send costs the server no signature
check and no request set-up. Answers come back on the same socket, matched by
``request_id``, so a reader task separates them from the delivered frames that
``listen`` consumes; it keeps reading while the application handles a message,
so a send made from inside the ``listen`` loop is answered too.

The connection offers the ``sottovoce.batches`` subprotocol (docs/api.md): what
is sent while a previous write is pending, or in the same pass of the event loop
(an outbox flushed after a reconnect, a burst, fan-out to several recipients,
the ack of a batch), goes out as one ``batch`` frame, with no timer; the
server's batches are taken apart here, and each send keeps its own answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.typing import Subprotocol

from sottovoce.client.errors import MalformedResponse, NetworkError, ServerError

# The same bound as one HTTP request (client.transport.REQUEST_TIMEOUT_S).
ANSWER_TIMEOUT_S = 15.0
# Frame members that belong to the frame, not to the problem it carries.
_FRAME_MEMBERS = frozenset({"type", "request_id", "kind"})
# The subprotocol of ``batch`` frames (RFC 6455 §1.9), offered at the upgrade.
BATCHES = Subprotocol("sottovoce.batches")
# Frames one batch carries at most, and about how many bytes: the server's
# limits.MAX_FRAMES_PER_BATCH and, well inside its 4 MiB frame bound, a quarter.
MAX_FRAMES_PER_BATCH = 64
MAX_BATCH_BYTES = 1024 * 1024
_BATCH_ENDS = ('{"type":"batch","frames":[', "]}")


class LiveConnection:
    """One open WebSocket: iterate it for the delivered frames of each read (a
    batch's frames, or one; JSON values, ``None`` for text that is not JSON),
    :meth:`send` acknowledgements, :meth:`send_message` a message."""

    def __init__(
        self, connection: ClientConnection, on_closed: Callable[[LiveConnection], None]
    ) -> None:
        self._connection = connection
        self._on_closed = on_closed
        self._frames: asyncio.Queue[list[Any] | None] = asyncio.Queue()
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_request_id = 1
        self._failure: ConnectionClosed | None = None
        self._batches = connection.subprotocol == BATCHES
        self._outgoing: list[str] = []
        self._writer: asyncio.Task[None] | None = None
        self.open = True
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self._connection:
                text = raw if isinstance(raw, str) else raw.decode(errors="replace")
                delivered = [f for f in _frames_of(text) if not self._answered(f)]
                if delivered:
                    self._frames.put_nowait(delivered)
        except ConnectionClosed as exc:
            self._failure = None if isinstance(exc, ConnectionClosedOK) else exc
        finally:
            self.open = False
            self._on_closed(self)
            for waiting in self._answers.values():
                if not waiting.done():
                    waiting.set_exception(NetworkError("the live connection closed mid-send"))
            self._frames.put_nowait(None)

    def _answered(self, frame: Any) -> bool:
        """Resolve the send this frame answers; False for any other frame."""
        if not isinstance(frame, dict) or frame.get("type") not in ("sent", "problem"):
            return False
        request_id = frame.get("request_id")
        waiting = self._answers.get(request_id) if isinstance(request_id, int) else None
        if waiting is None:
            return False
        if not waiting.done():
            waiting.set_result(frame)
        return True

    async def __aiter__(self) -> AsyncIterator[list[Any]]:
        while (frames := await self._frames.get()) is not None:
            yield frames
        if self._failure is not None:
            raise self._failure

    async def send(self, text: str) -> None:
        """Send a frame (JSON text) with the next write. A connection lost on the
        way ends the iteration (and fails the sends waiting for answers)."""
        if not self.open:
            raise NetworkError("the live connection is closed")
        self._outgoing.append(text)
        if self._writer is None:
            # Its first step runs on the loop's next pass: what the other tasks send
            # in this one joins the same write, without a timer.
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        """Write what waits, and what is sent meanwhile, until nothing does: with
        batches, as ``batch`` frames (``_batched``), else frame by frame."""
        try:
            while self._outgoing:
                texts, self._outgoing = self._outgoing, []
                for text in _batched(texts) if self._batches else texts:
                    await self._connection.send(text)
        except ConnectionClosed:
            self._outgoing.clear()  # the reader ends and fails the sends waiting
        finally:
            self._writer = None

    async def send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """The ``send`` frame of ``POST /v1/messages``'s body; its ``SendResult``.
        Refusals raise :class:`ServerError` with the problem the HTTP route gives;
        a connection lost before the answer raises :class:`NetworkError`."""
        if not self.open:
            raise NetworkError("the live connection is closed")
        request_id = self._next_request_id
        self._next_request_id += 1
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = waiting
        frame = {"type": "send", "request_id": request_id, "message": body}
        try:
            await self.send(json.dumps(frame, separators=(",", ":")))
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                answer = await waiting
        except ConnectionClosed as exc:
            raise NetworkError("the live connection closed mid-send") from exc
        except TimeoutError as exc:
            raise NetworkError("the server did not answer a send in time") from exc
        finally:
            self._answers.pop(request_id, None)
        if answer["type"] == "problem":
            raise _problem(answer)
        result = answer.get("result")
        if not isinstance(result, dict):
            raise MalformedResponse("a send's answer carries no result object")
        return result

    async def close(self) -> None:
        if self._writer is not None:  # acknowledgements written before the close
            await self._writer
        await self._connection.close()
        await self._reader


def _frames_of(text: str) -> list[Any]:
    """The frames one WebSocket message carries: a batch's, or the message itself
    (``None`` if it is not JSON: the receive loop logs and skips it)."""
    try:
        frame = json.loads(text)
    except ValueError:
        return [None]
    if isinstance(frame, dict) and frame.get("type") == "batch":
        inner = frame.get("frames")
        return inner if isinstance(inner, list) else [None]
    return [frame]


def _batched(texts: list[str]) -> list[str]:
    """``texts`` (frames as JSON text) as few WebSocket messages as the batch bounds
    allow: a lone frame as it is, several as a ``batch`` (joined, not re-serialized)."""
    messages: list[str] = []
    group: list[str] = []
    size = 0
    for text in texts:
        if group and (len(group) == MAX_FRAMES_PER_BATCH or size + len(text) > MAX_BATCH_BYTES):
            messages.append(_joined(group))
            group, size = [], 0
        group.append(text)
        size += len(text)
    if group:
        messages.append(_joined(group))
    return messages


def _joined(group: list[str]) -> str:
    return group[0] if len(group) == 1 else ",".join(group).join(_BATCH_ENDS)


def _problem(frame: dict[str, Any]) -> ServerError:
    """A problem frame as the ServerError its HTTP problem document would give."""
    status = frame.get("status")
    kind = str(frame.get("kind", "error"))
    detail = str(frame.get("detail", "error"))
    problem: dict[str, object] = {"type": kind, "title": kind.replace("-", " ")}
    problem.update({k: v for k, v in frame.items() if k not in _FRAME_MEMBERS})
    return ServerError(status if isinstance(status, int) else 500, kind, detail, problem)
