"""Refuse oversized request bodies before they are read into memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """Checks ``Content-Length`` before any handler runs and counts streamed bytes as
    the handler reads them, answering 413 with a problem document either way; a
    handler never sees more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "malformed-request", "bad Content-Length")
                    return
                if declared > self.max_bytes:
                    await self._too_large(send)
                    return
        # Count the body as the handler reads it, without holding a copy: an upload
        # segment of 3.5 MiB is then copied once (by the handler), not twice. Past
        # the limit the handler sees a disconnect, and the client the 413.
        received = 0
        refused = False
        started = False

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not refused:
                    refused = True
                    if not started:
                        await self._too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out instead of whatever the handler answers
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise
            # The handler failed on the cut-off body; the 413 is the answer.

    async def _too_large(self, send: Send) -> None:
        await self._reject(
            send, 413, "body-too-large", f"request body exceeds {self.max_bytes} bytes"
        )

    @staticmethod
    async def _reject(send: Send, status: int, kind: str, detail: str) -> None:
        body = json.dumps(
            {"type": kind, "title": kind.replace("-", " "), "status": status, "detail": detail}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
