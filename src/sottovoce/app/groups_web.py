"""The app's group conversation view: history in pages, attachments, receipts per
member, typing, replies, deletion and the disappearing timer, each one call of
``Client.groups`` (``client.groups``, ``client.group_chat``).

``web`` routes a conversation whose id starts with ``#`` here, so a group is read
and written with the same requests and JSON as a direct conversation; what only a
group has is ``receipts`` on its own messages (who it was delivered to and who
read it, as WhatsApp's "message info" shows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from sottovoce.app.session import AppSession
from sottovoce.client import Client
from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.disappearing import TIMERS
from sottovoce.client.errors import ClientError
from sottovoce.client.groups import GroupMessage

log = logging.getLogger("sottovoce.app")
# Receipts and typing indicators on their way: showing a group never waits for them.
_SENDING: set[asyncio.Task[None]] = set()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def attachment_json(client: Client, pointer: AttachmentPointer | None) -> dict[str, Any] | None:
    if pointer is None:
        return None
    return {
        "name": pointer.name,
        "type": pointer.media_type,
        "size": pointer.size,
        "image": pointer.is_image,
        "thumbnail": pointer.thumbnail,
        "downloaded": client.attachment_file(pointer).exists(),
    }


def message_json(client: Client, group: str, m: GroupMessage) -> dict[str, Any]:
    out = m.sender == client.address
    item: dict[str, Any] = {
        "id": m.message_id,
        "direction": "out" if out else "in",
        "sender": m.sender,
        "text": m.text,
        "ts": _ms(m.sent_at),
        "forwarded": 0,
        "state": client.groups.message_state(group, m.message_id) if out else "received",
        "attachment": attachment_json(client, m.attachment),
        "expires": _ms(m.expires_at) if m.expires_at else None,
        "quote": m.quote.to_json() if m.quote else None,
    }
    if out:
        item["receipts"] = [
            {"member": r.member, "state": r.state}
            for r in client.groups.receipts(group, m.message_id)
        ]
    return item


def preview(m: GroupMessage) -> str:
    """What the chat list shows of a group's last message."""
    return m.text or (m.attachment.name if m.attachment else "")


def messages(
    session: AppSession, conversation: str, group: str, before: int | None, limit: int
) -> dict[str, Any]:
    """A page of the group's history; the latest page (no ``before``) also says who
    is in it and marks it read (a ``read`` receipt to the members, in the background)."""
    client = session.client
    if before is not None:
        older, cursor = client.groups.history_page(group, limit, before)
        return {
            "id": conversation,
            "kind": "group",
            "older": cursor,
            "messages": [message_json(client, group, m) for m in older],
        }
    info = client.groups.info(group)
    request = next((r for r in client.group_requests() if r.group == group), None)
    page: list[GroupMessage] = []
    cursor = None
    if request is None:  # a stranger's group stays unseen until accepted (client.requests)
        page, cursor = client.groups.history_page(group, limit)
        read = client.groups.mark_read(group)
        if read:
            _background(client.groups.send_read_receipt(group, read))
    return {
        "id": conversation,
        "kind": "group",
        "members": list(info.members),
        "request": request is not None,
        "invited_by": request.invited_by if request else None,
        "timer": client.groups.timer(group),
        "older": cursor,
        "messages": [message_json(client, group, m) for m in page],
    }


async def send(
    session: AppSession,
    conversation: str,
    group: str,
    text: str,
    attachment: AttachmentPointer | None,
    reply_to: str | None,
) -> dict[str, Any]:
    client = session.client
    sent = await client.groups.send(group, text, attachment=attachment, reply_to=reply_to)
    session.changed(conversation)
    return message_json(client, group, sent)


async def delete(
    session: AppSession, conversation: str, group: str, message_id: str, everyone: bool
) -> dict[str, Any]:
    client = session.client
    if everyone:
        await client.groups.delete_for_everyone(group, message_id)
    else:
        await client.groups.delete_for_me(group, message_id)
    session.changed(conversation)
    return {"ok": True}


def typing(session: AppSession, group: str, started: bool) -> dict[str, Any]:
    """Tell the members in the background; a lost indicator costs nothing."""
    _background(session.client.groups.send_typing(group, started))
    return {"ok": True}


async def set_timer(
    session: AppSession, conversation: str, group: str, seconds: int
) -> dict[str, Any]:
    await session.client.groups.set_timer(group, seconds)
    session.changed(conversation)
    return {"timer": seconds, "choices": TIMERS}


def _background(work: Coroutine[Any, Any, object]) -> None:
    async def run() -> None:
        try:
            await work
        except ClientError as exc:
            log.info("a group receipt or typing indicator failed: %s", exc)

    task = asyncio.create_task(run())
    _SENDING.add(task)
    task.add_done_callback(_SENDING.discard)
