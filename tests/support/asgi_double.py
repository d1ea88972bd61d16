"""What the tests' lying servers (an ASGI wrapper around the real app) share: who
asks, and the real app's answer captured whole so that it can be altered."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope

from sottovoce.protocol.public.request_auth import parse_authorization_header


def requester(scope: Scope) -> str:
    """The address a request is signed by, or "" for an unsigned or malformed one."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            try:
                return parse_authorization_header(value.decode()).address
            except Exception:
                return ""
    return ""


async def call_real(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
    """The real app's status, headers and body for this request."""
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return int(started["status"]), list(started.get("headers", [])), b"".join(chunks)
