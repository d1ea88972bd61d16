"""The device's WebSocket as the SDK holds it: delivered frames, and sends on it.

While :meth:`Client.listen` holds the live connection, messages are sent as
``send`` frames on it (docs/api.md) instead of one signed HTTP request each: the
upgrade authenticated the device once, so a send costs the server no signature
check and no request set-up. Answers come back on the same socket, matched by
``request_id``, so a reader task separates them from the delivered frames that
``listen`` consumes; it keeps reading while the application handles a message,
so a send made from inside the ``listen`` loop is answered too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from sottovoce.client.errors import MalformedResponse, NetworkError, ServerError

# The same bound as one HTTP request (client.transport.REQUEST_TIMEOUT_S).
ANSWER_TIMEOUT_S = 15.0
# Frame members that belong to the frame, not to the problem it carries.
_FRAME_MEMBERS = frozenset({"type", "request_id", "kind"})


class LiveConnection:
    """One open WebSocket: iterate it for delivered frames (text, as received),
    :meth:`send` acknowledgements, :meth:`send_message` a message."""

    def __init__(
        self, connection: ClientConnection, on_closed: Callable[[LiveConnection], None]
    ) -> None:
        self._connection = connection
        self._on_closed = on_closed
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_request_id = 1
        self._failure: ConnectionClosed | None = None
        self.open = True
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self._connection:
                text = raw if isinstance(raw, str) else raw.decode(errors="replace")
                if not self._answered(text):
                    self._frames.put_nowait(text)
        except ConnectionClosed as exc:
            self._failure = None if isinstance(exc, ConnectionClosedOK) else exc
        finally:
            self.open = False
            self._on_closed(self)
            for waiting in self._answers.values():
                if not waiting.done():
                    waiting.set_exception(NetworkError("the live connection closed mid-send"))
            self._frames.put_nowait(None)

    def _answered(self, text: str) -> bool:
        """Resolve the send this frame answers; False for any other frame."""
        if '"request_id"' not in text:
            return False
        try:
            frame = json.loads(text)
        except ValueError:
            return False
        if not isinstance(frame, dict) or frame.get("type") not in ("sent", "problem"):
            return False
        request_id = frame.get("request_id")
        waiting = self._answers.get(request_id) if isinstance(request_id, int) else None
        if waiting is None:
            return False
        if not waiting.done():
            waiting.set_result(frame)
        return True

    async def __aiter__(self) -> AsyncIterator[str]:
        while (text := await self._frames.get()) is not None:
            yield text
        if self._failure is not None:
            raise self._failure

    async def send(self, text: str) -> None:
        await self._connection.send(text)

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
            await self._connection.send(json.dumps(frame, separators=(",", ":")))
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
        await self._connection.close()
        await self._reader


def _problem(frame: dict[str, Any]) -> ServerError:
    """A problem frame as the ServerError its HTTP problem document would give."""
    status = frame.get("status")
    kind = str(frame.get("kind", "error"))
    detail = str(frame.get("detail", "error"))
    problem: dict[str, object] = {"type": kind, "title": kind.replace("-", " ")}
    problem.update({k: v for k, v in frame.items() if k not in _FRAME_MEMBERS})
    return ServerError(status if isinstance(status, int) else 500, kind, detail, problem)
