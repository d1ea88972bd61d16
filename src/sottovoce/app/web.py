"""The local web app: static pages and a JSON + WebSocket API over the SDK.

Every ``/api`` request and the ``/ws`` upgrade pass through :class:`GuardMiddleware`
first (``guard``); the routes only translate between JSON and ``sottovoce.client``
calls, so the app can do nothing the SDK does not. SDK failures become a JSON
``{"error": sentence}`` with a 4xx status; the process keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Body, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from sottovoce.app import groups_web
from sottovoce.app.groups_web import attachment_json as _attachment_json
from sottovoce.app.guard import COOKIE, Guard
from sottovoce.app.people import add_people_routes
from sottovoce.app.scan import add_scan_routes
from sottovoce.app.session import FELL_BEHIND, AppSession, FellBehind, NotSignedIn
from sottovoce.client import Client
from sottovoce.client.address import Address
from sottovoce.client.attachments import (
    MAX_ATTACHMENT_BYTES,
    AttachmentError,
    AttachmentPointer,
    check_thumbnail,
    decrypt_file,
    sealed_size,
)
from sottovoce.client.backup import BackupError, restore_backup
from sottovoce.client.disappearing import TIMERS
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
from sottovoce.client.messages import HistoryEntry
from sottovoce.client.safety import VerificationRequired

STATIC = resources.files("sottovoce.app") / "static"
# A conversation (direct or group) is read in pages of at most this many messages,
# older ones as the view scrolls back.
VIEW_LIMIT = 500
PAGE_SIZE = 200
SEARCH_LIMIT = 50
_PAGES = {"app.css": "text/css", "app.js": "text/javascript", "scan.js": "text/javascript"}


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
        # Sent once the server stored it; delivered and read from receipts.
        "state": (client.message_state(e.message_id) or "sent")
        if e.direction == "out"
        else "received",
        "attachment": _attachment_json(client, e.attachment),
        "expires": _ms(e.expires_at) if e.expires_at else None,
        "quote": e.quote.to_json() if e.quote else None,
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
        if isinstance(exc, VerificationRequired):  # its sentence names the command line
            detail = (
                f"the safety number with {exc.address}, whom you verified, has changed: "
                "compare it again (Verify safety number) before sending"
            )
            return JSONResponse({"error": detail}, status_code=_status_of(exc))
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
            # The page refuses a larger file at once, before streaming any of it.
            "max_attachment_bytes": MAX_ATTACHMENT_BYTES,
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

    @api.get("/api/settings")
    async def settings() -> dict[str, Any]:
        client = session.client
        return {"receipts": client.receipts_enabled(), "typing": client.typing_indicators_enabled()}

    @api.post("/api/settings")
    async def change_settings(
        receipts: bool | None = Body(None), typing: bool | None = Body(None)
    ) -> dict[str, Any]:
        client = session.client
        if receipts is not None:
            client.set_receipts(receipts)
        if typing is not None:
            client.set_typing_indicators(typing)
        return {"receipts": client.receipts_enabled(), "typing": client.typing_indicators_enabled()}

    @api.post("/api/signout")
    async def sign_out() -> dict[str, Any]:
        await session.sign_out()
        return {"ok": True}

    # -- encrypted backup -------------------------------------------------------------

    @api.post("/api/backup")
    async def export(passphrase: str = Body(embed=True)) -> Response:
        """The backup file as a download; it is never kept by this process."""
        client = session.client
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "profile.svbackup"
            await asyncio.to_thread(client.export_backup, path, passphrase)
            data = path.read_bytes()
        name = client.address.replace("@", "-at-") + ".svbackup"
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    @api.post("/api/restore")
    async def restore(request: Request) -> dict[str, Any]:
        """The backup file is the body; the recovery passphrase a header (never a URL)."""
        if session.signed_in or session.exists:
            raise BackupError("this app already has a profile; restore into a new one")
        passphrase = request.headers.get("x-recovery-passphrase", "")
        data = await request.body()
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "backup"
            source.write_bytes(data)
            await asyncio.to_thread(restore_backup, source, session.profile_dir, passphrase)
        return {"status": "locked"}

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
        group_requests = {r.group: r for r in client.group_requests()}
        for g in client.groups.all():
            if g.name in group_requests:
                continue  # a stranger's invite waits under requests, unseen
            last = client.groups.history(g.name, 1)
            items.append(
                {
                    "id": f"#{g.name}",
                    "kind": "group",
                    "title": f"#{g.name}",
                    "last_text": groups_web.preview(last[-1]) if last else "",
                    "ts": _ms(last[-1].sent_at) if last else 0,
                    "unread": client.groups.unread(g.name),
                    "members": list(g.members),
                }
            )
        items.sort(key=lambda item: item["ts"], reverse=True)
        requests = [
            {
                "id": r.peer,
                "last_text": r.last_text,
                "ts": _ms(r.last_timestamp),
                "unread": r.unread,
            }
            for r in client.requests()
        ] + [
            {
                "id": f"#{r.group}",
                "last_text": f"{r.invited_by} added you to this group",
                "ts": _ms(r.since),
                "unread": r.held,
            }
            for r in group_requests.values()
        ]
        return {
            "conversations": items,
            "requests": requests,
            "identity_changes": client.pending_identity_changes(),
        }

    @api.get("/api/conversations/{conversation}/messages")
    async def messages(
        conversation: str,
        before: int | None = Query(default=None, ge=1),
        limit: int = Query(default=PAGE_SIZE, ge=1, le=VIEW_LIMIT),
    ) -> dict[str, Any]:
        client = session.client
        group = _group_name(conversation)
        if group is not None:  # paged the same way (app.groups_web)
            return groups_web.messages(session, conversation, group, before, limit)
        peer = str(Address.parse(conversation))
        unread = next((c.unread for c in client.conversations() if c.peer == peer), 0)
        if before is not None:  # an older page: only the messages and the next cursor
            older, cursor = client.history_page(peer, limit, before)
            return {
                "id": peer,
                "kind": "direct",
                "older": cursor,
                "messages": [_entry_json(client, e) for e in older],
            }
        entries, cursor = client.history_page(peer, limit, mark_read=True)
        if unread:
            incoming = [e.message_id for e in entries if e.direction == "in"]
            session.read(peer, incoming[-unread:])
        return {
            "id": peer,
            "kind": "direct",
            "request": client.is_request(peer),
            "verified": client.is_verified(peer),
            "identity_changed": peer in client.pending_identity_changes(),
            "timer": client.disappearing_timer(peer),
            "older": cursor,
            "messages": [_entry_json(client, e) for e in entries],
        }

    @api.post("/api/conversations/{conversation}/messages")
    async def send(
        conversation: str,
        text: str = Body(""),
        upload: str | None = Body(None),
        reply_to: str | None = Body(None),
    ) -> dict[str, Any]:
        client = session.client
        attachment = session.uploads.pop(upload, None) if upload else None
        if upload and attachment is None:
            raise InvalidMessage("that upload is not on this device any more; attach it again")
        if not text.strip() and attachment is None:
            raise InvalidMessage("a message needs some text")
        group = _group_name(conversation)
        if group is not None:
            return await groups_web.send(session, conversation, group, text, attachment, reply_to)
        message = await client.send(conversation, text, attachment=attachment, reply_to=reply_to)
        session.changed(message.recipient)
        return {"id": message.message_id, "state": "sent"}

    @api.post("/api/conversations/{conversation}/messages/{message_id}/delete")
    async def delete(
        conversation: str, message_id: str, everyone: bool = Body(False, embed=True)
    ) -> dict[str, Any]:
        client = session.client
        if (group := _group_name(conversation)) is not None:
            return await groups_web.delete(session, conversation, group, message_id, everyone)
        if everyone:
            await client.delete_for_everyone(conversation, message_id)
        else:
            await client.delete_for_me(conversation, message_id)
        session.changed(str(Address.parse(conversation)))
        return {"ok": True}

    @api.post("/api/conversations/{conversation}/typing")
    async def typing(conversation: str, started: bool = Body(embed=True)) -> dict[str, Any]:
        if (group := _group_name(conversation)) is not None:
            return groups_web.typing(session, group, started)
        session.typing(str(Address.parse(conversation)), started)
        return {"ok": True}

    @api.post("/api/conversations/{conversation}/timer")
    async def set_timer(conversation: str, seconds: int = Body(embed=True)) -> dict[str, Any]:
        if (group := _group_name(conversation)) is not None:
            return await groups_web.set_timer(session, conversation, group, seconds)
        await session.client.set_disappearing_timer(conversation, seconds)
        return {"timer": seconds, "choices": TIMERS}

    # -- attachments --------------------------------------------------------------------

    @api.post("/api/uploads")
    async def upload(
        request: Request,
        name: str,
        size: int,
        media_type: str = Query("application/octet-stream", alias="type"),
        resume: str | None = Query(None),
    ) -> dict[str, Any]:
        """The file's bytes stream in as the body and are encrypted and uploaded as
        they come; the thumbnail (the page draws it) follows in ``/api/uploads/{id}``.
        With ``resume`` (an id from ``/api/uploads/pending``) the body is the file of
        an upload an earlier run of the app did not finish, and the upload goes on
        from where the server stands (client.upload_journal)."""
        client = session.client
        if resume is None:
            pointer = await client.upload_attachment(request.stream(), size, name, media_type)
        else:
            try:
                pointer = await client.resume_upload(resume, request.stream())
            except AttachmentError as exc:
                if "not the file" in str(exc):
                    client.discard_upload(resume)  # the next attempt starts afresh
                raise
        upload_id = secrets.token_urlsafe(16)
        session.uploads[upload_id] = pointer
        return {"upload": upload_id, "image": pointer.is_image}

    @api.get("/api/uploads/pending")
    async def pending_uploads() -> dict[str, Any]:
        """Uploads an earlier run did not finish: attaching the same file resumes one."""
        return {
            "pending": [
                {
                    "id": u.blob_id,
                    "name": u.name,
                    "size": u.size,
                    "done": min(1.0, u.checkpoint / sealed_size(u.size)),
                }
                for u in session.client.pending_uploads()
            ]
        }

    @api.post("/api/uploads/pending/{blob_id}/discard")
    async def discard_upload(blob_id: str) -> dict[str, Any]:
        session.client.discard_upload(blob_id)
        return {"ok": True}

    @api.put("/api/uploads/{upload_id}/thumbnail")
    async def thumbnail(upload_id: str, thumbnail: str = Body(embed=True)) -> dict[str, Any]:
        pointer = session.uploads.get(upload_id)
        if pointer is None:
            raise InvalidMessage("that upload is not on this device any more")
        session.uploads[upload_id] = replace(pointer, thumbnail=check_thumbnail(thumbnail))
        return {"ok": True}

    def _pointer(message_id: str) -> AttachmentPointer:
        client = session.client
        try:
            pointer = client.find_message(message_id).attachment
        except ClientError:
            pointer = client.groups.find_attachment(message_id)  # a group's message
        if pointer is None:
            raise InvalidMessage("that message has no attachment")
        return pointer

    @api.post("/api/attachments/{message_id}/download")
    async def download(message_id: str) -> dict[str, Any]:
        pointer = _pointer(message_id)
        shown = -1

        def progress(done: int, total: int) -> None:
            # Whole percents only: the network's reads can be a few KiB each, and
            # hundreds of events would fill a tab's feed queue (FEED_QUEUE).
            nonlocal shown
            percent = done * 100 // total if total else 100
            if percent != shown:
                shown = percent
                session.feed.publish(
                    {"type": "download", "message_id": message_id, "done": done, "total": total}
                )

        await session.client.download_attachment(pointer, progress=progress)
        return {"ok": True}

    @api.get("/api/attachments/{message_id}/content")
    async def content(message_id: str) -> Response:
        pointer = _pointer(message_id)
        path = await session.client.download_attachment(pointer)
        # Only images are shown inline; anything else (HTML above all) is a download,
        # so a file someone sent can never run as a page of this origin.
        inline = pointer.is_image
        disposition = "inline" if inline else "attachment"
        return StreamingResponse(
            decrypt_file(path, pointer),
            media_type=pointer.media_type if inline else "application/octet-stream",
            headers={
                "content-disposition": f"{disposition}; filename*=UTF-8''{quote(pointer.name)}",
            },
        )

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
        group = _group_name(peer)
        if group is not None:
            if action == "accept":
                client.accept_group_request(group)
            elif action == "delete":
                await client.decline_group_request(group)
            elif action == "block":
                inviter = next(r.invited_by for r in client.group_requests() if r.group == group)
                await client.decline_group_request(group)
                await client.block(inviter)
            else:
                raise InvalidAddress(f"unknown action {action!r}")
            session.changed(peer)
            return {"ok": True}
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

    add_people_routes(api, session)  # groups, verification, devices, report and block
    add_scan_routes(api, session)  # reading a linking code off the camera

    # -- live ---------------------------------------------------------------------------

    @api.websocket("/ws")
    async def live(socket: WebSocket) -> None:
        # Subscribed before the page can know the socket is open: whatever it
        # re-reads once it is, nothing published after that is missed.
        subscription = session.feed.subscribe()
        try:
            await socket.accept()
        except (WebSocketDisconnect, RuntimeError):
            session.feed.unsubscribe(subscription)
            return

        async def drain_client() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await socket.receive_text()

        reader = asyncio.create_task(drain_client())
        try:
            while not reader.done():
                getter = asyncio.create_task(subscription.next())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await socket.send_json(getter.result())
                else:
                    getter.cancel()
        except FellBehind:
            # The tab missed events: it reconnects and re-reads what it shows.
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await socket.close(FELL_BEHIND, "fell behind: re-read everything")
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            session.feed.unsubscribe(subscription)

    return api
