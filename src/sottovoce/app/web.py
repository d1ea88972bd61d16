"""The local web app: static pages and a JSON + WebSocket API over the SDK.

Every ``/api`` request and the ``/ws`` upgrade pass through :class:`GuardMiddleware`
first (``guard``); the routes only translate between JSON and ``sottovoce.client``
calls, so the app can do nothing the SDK does not. SDK failures become a JSON
``{"error": sentence}`` with a 4xx status; the process keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any

from fastapi import Body, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sottovoce.app.guard import COOKIE, Guard
from sottovoce.app.session import AppSession, NotSignedIn
from sottovoce.client import Client
from sottovoce.client.address import Address
from sottovoce.client.errors import (
    ClientError,
    IdentityChanged,
    InvalidAddress,
    InvalidMessage,
    NetworkError,
    ProfileError,
    SecurityError,
    ServerError,
    UnknownAccount,
)
from sottovoce.client.groups import GroupMessage
from sottovoce.client.messages import HistoryEntry

STATIC = resources.files("sottovoce.app") / "static"
# A conversation view shows this many of the latest messages.
VIEW_LIMIT = 500
SEARCH_LIMIT = 50
_PAGES = {"app.css": "text/css", "app.js": "text/javascript"}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _status_of(exc: ClientError) -> int:
    if isinstance(exc, NotSignedIn):
        return 401
    if isinstance(exc, ProfileError):
        return 403
    if isinstance(exc, UnknownAccount):
        return 404
    if isinstance(exc, IdentityChanged | SecurityError):
        return 409
    if isinstance(exc, NetworkError):
        return 502
    if isinstance(exc, ServerError):
        return 400 if exc.status < 500 else 502
    return 400


class GuardMiddleware:
    """Host, Origin and session-cookie checks before any route runs (``guard``)."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        cookie = SimpleCookie()
        with contextlib.suppress(Exception):
            cookie.load(headers.get("cookie", ""))
        cookies = {name: morsel.value for name, morsel in cookie.items()}
        path: str = scope["path"]
        if scope["type"] == "websocket":
            reason = self.guard.refusal_for_write(headers, cookies)
        elif path == "/api/session":
            reason = self.guard.refusal_for_write(headers, cookies)
            if reason == "no valid session cookie":
                reason = None  # this is where the cookie is obtained
        elif path.startswith("/api/"):
            if scope["method"] in ("GET", "HEAD"):
                reason = self.guard.refusal(headers, cookies)
            else:
                reason = self.guard.refusal_for_write(headers, cookies)
        else:
            reason = self.guard.refusal(headers, cookies, need_cookie=False)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
            return
        response = JSONResponse({"error": f"refused: {reason}"}, status_code=403)
        await response(scope, receive, send)


def _entry_json(client: Client, e: HistoryEntry) -> dict[str, Any]:
    return {
        "id": e.message_id,
        "direction": e.direction,
        "sender": client.address if e.direction == "out" else e.peer,
        "text": e.text,
        "ts": _ms(e.timestamp),
        "forwarded": e.forwarded,
        # Stored on this device once the server accepted it.
        "state": "sent" if e.direction == "out" else "received",
    }


def _group_json(client: Client, m: GroupMessage) -> dict[str, Any]:
    out = m.sender == client.address
    return {
        "id": m.message_id,
        "direction": "out" if out else "in",
        "sender": m.sender,
        "text": m.text,
        "ts": _ms(m.sent_at),
        "forwarded": 0,
        "state": "sent" if out else "received",
    }


def _group_name(conversation: str) -> str | None:
    return conversation[1:] if conversation.startswith("#") else None


def build_app(session: AppSession, guard: Guard) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await session.close()

    api = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    api.add_middleware(GuardMiddleware, guard=guard)
    csp = (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        f"connect-src 'self' ws://127.0.0.1:{guard.port} ws://localhost:{guard.port}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )

    @api.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @api.exception_handler(ClientError)
    async def client_error(_: Request, exc: ClientError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=_status_of(exc))

    # -- pages --------------------------------------------------------------------

    @api.get("/")
    async def index() -> Response:
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html")

    @api.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in _PAGES:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response((STATIC / name).read_bytes(), media_type=_PAGES[name])

    @api.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    # -- session and profile ------------------------------------------------------------

    @api.post("/api/session")
    async def open_session(token: str = Body(embed=True)) -> Response:
        cookie = guard.exchange(token)
        if cookie is None:
            return JSONResponse({"error": "this link was already used or is wrong"}, 403)
        response = JSONResponse({"ok": True})
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/")
        return response

    @api.get("/api/state")
    async def state() -> dict[str, Any]:
        if not session.signed_in:
            return {
                "status": "locked" if session.exists else "new",
                "server": session.default_server,
            }
        client = session.client
        return {
            "status": "open",
            "address": client.address,
            "device_id": client.device_id,
            "server": client.server_url,
        }

    @api.post("/api/signup")
    async def sign_up(
        server: str = Body(), app: str = Body(), handle: str = Body(), passphrase: str = Body()
    ) -> dict[str, Any]:
        try:
            client = await session.sign_up(server, app, handle, passphrase)
        except ServerError as exc:
            if exc.problem_type == "handle-taken":
                raise ClientError(f"{handle}@{app} is already taken") from None
            if exc.problem_type == "unknown-app":
                raise ClientError(f"this server serves no app named {app!r}") from None
            raise
        return {"address": client.address}

    @api.post("/api/signin")
    async def sign_in(passphrase: str = Body(embed=True)) -> dict[str, Any]:
        client = await session.sign_in(passphrase)
        return {"address": client.address}

    @api.post("/api/signout")
    async def sign_out() -> dict[str, Any]:
        await session.sign_out()
        return {"ok": True}

    # -- conversations ----------------------------------------------------------------

    @api.get("/api/conversations")
    async def conversations() -> dict[str, Any]:
        client = session.client
        items: list[dict[str, Any]] = [
            {
                "id": c.peer,
                "kind": "direct",
                "title": c.peer,
                "last_text": c.last_text,
                "ts": _ms(c.last_timestamp),
                "unread": c.unread,
                "verified": client.is_verified(c.peer),
            }
            for c in client.conversations()
            if not c.request
        ]
        for g in client.groups.all():
            last = client.groups.history(g.name, 1)
            items.append(
                {
                    "id": f"#{g.name}",
                    "kind": "group",
                    "title": f"#{g.name}",
                    "last_text": last[-1].text if last else "",
                    "ts": _ms(last[-1].sent_at) if last else 0,
                    "unread": 0,
                    "members": list(g.members),
                }
            )
        items.sort(key=lambda item: item["ts"], reverse=True)
        requests = [
            {
                "id": r.peer,
                "last_text": r.last_text,
                "ts": _ms(r.last_timestamp),
                "messages": r.messages,
            }
            for r in client.requests()
        ]
        return {
            "conversations": items,
            "requests": requests,
            "identity_changes": client.pending_identity_changes(),
        }

    @api.get("/api/conversations/{conversation}/messages")
    async def messages(conversation: str) -> dict[str, Any]:
        client = session.client
        group = _group_name(conversation)
        if group is not None:
            info = client.groups.info(group)
            entries = [_group_json(client, m) for m in client.groups.history(group, VIEW_LIMIT)]
            return {"id": conversation, "kind": "group", "members": list(info.members),
                    "messages": entries}
        peer = str(Address.parse(conversation))
        return {
            "id": peer,
            "kind": "direct",
            "request": client.is_request(peer),
            "verified": client.is_verified(peer),
            "identity_changed": peer in client.pending_identity_changes(),
            "messages": [_entry_json(client, e) for e in client.history(peer, VIEW_LIMIT)],
        }

    @api.post("/api/conversations/{conversation}/messages")
    async def send(conversation: str, text: str = Body(embed=True)) -> dict[str, Any]:
        client = session.client
        if not text.strip():
            raise InvalidMessage("a message needs some text")
        group = _group_name(conversation)
        if group is not None:
            sent = await client.groups.send(group, text)
            session.changed(conversation)
            return _group_json(client, sent)
        message = await client.send(conversation, text)
        session.changed(message.recipient)
        return {
            "id": message.message_id,
            "direction": "out",
            "sender": client.address,
            "text": message.text,
            "ts": _ms(message.sent_at),
            "forwarded": 0,
            "state": "sent",
        }

    @api.get("/api/search")
    async def search(q: str) -> dict[str, Any]:
        client = session.client
        return {
            "hits": [
                {
                    "conversation": h.conversation,
                    "id": h.message_id,
                    "sender": h.sender,
                    "text": h.text,
                    "ts": _ms(h.timestamp),
                }
                for h in client.search(q, SEARCH_LIMIT)
            ]
        }

    # -- message requests ------------------------------------------------------------

    @api.post("/api/requests/{peer}/{action}")
    async def request_action(peer: str, action: str) -> dict[str, Any]:
        client = session.client
        if action == "accept":
            await client.accept_request(peer)
        elif action == "delete":
            client.delete_request(peer)
        elif action == "block":
            await client.block(peer)
        else:
            raise InvalidAddress(f"unknown action {action!r}")
        session.changed(peer)
        return {"ok": True}

    # -- live ---------------------------------------------------------------------------

    @api.websocket("/ws")
    async def live(socket: WebSocket) -> None:
        await socket.accept()
        queue = session.feed.subscribe()

        async def drain_client() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await socket.receive_text()

        reader = asyncio.create_task(drain_client())
        try:
            while not reader.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await socket.send_json(getter.result())
                else:
                    getter.cancel()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            session.feed.unsubscribe(queue)

    return api
