"""What a group application message carries inside MLS's encryption.

Compact UTF-8 JSON like one-to-one content (``client.content``). A ``text``
(``{"v": 1, "kind": "text", "id", "text", "sent_at"}``) may carry, as one-to-one
messages do, an attachment's pointer (``"att"``, the text then a caption), the
message it replies to (``"quote"``), the group's disappearing timer
(``"timer"``) and the newest signed tree head of the transparency log the sender
verified (``"sth"``, ``client.head_gossip``; a malformed one is dropped with a
warning and costs the message nothing). A ``name`` (``{"v": 1, "kind": "name",
"id", "name", "sent_at"}``) is sent after adding people so that every member
shows the group under the name its creator gave it. A ``timer`` (``{"v": 1,
"kind": "timer", "id", "timer", "sent_at"}``) is a member's change of the group's
disappearing timer. Receipts, typing indicators and deletions are the one-to-one
payloads (``content.ReceiptContent``, ``TypingContent``, ``DeleteContent``) sent
as MLS application messages. The server never sees any of it: all of it is content.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Literal

from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.content import (
    CONTENT_VERSION,
    MAX_CONTENT_LEN,
    MESSAGE_ID,
    DeleteContent,
    Quote,
    ReceiptContent,
    TypingContent,
    decode_payload,
)
from sottovoce.client.disappearing import check_timer
from sottovoce.client.errors import InvalidMessage
from sottovoce.client.head_gossip import (
    HEAD_FIELD,
    MalformedGossip,
    decode_head_field,
    encode_head_field,
)

log = logging.getLogger(__name__)

# A group name is a short label typed on a command line: printable, one line.
MAX_GROUP_NAME_LEN = 64

Kind = Literal["text", "name"]


def check_group_name(name: str) -> str:
    """A usable group name, or :class:`InvalidMessage` saying why not."""
    if not name or len(name) > MAX_GROUP_NAME_LEN:
        raise InvalidMessage(f"a group name has 1 to {MAX_GROUP_NAME_LEN} characters")
    if not name.isprintable() or name != name.strip():
        raise InvalidMessage("a group name is printable text without surrounding spaces")
    return name


@dataclass(frozen=True, slots=True)
class GroupContent:
    kind: Kind
    message_id: str
    value: str
    sent_at_ms: int
    attachment: AttachmentPointer | None = None
    quote: Quote | None = None
    timer_s: int = 0
    # A signed tree head gossiped to the group (client.head_gossip), texts only.
    tree_head: bytes | None = field(default=None, repr=False)

    def encode(self) -> bytes:
        if not self.value and (self.kind != "text" or self.attachment is None):
            raise InvalidMessage("a message needs some text")
        name = "text" if self.kind == "text" else "name"
        head = self.tree_head if self.kind == "text" else None
        data = json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": self.kind,
                "id": self.message_id,
                name: self.value,
                "sent_at": self.sent_at_ms,
                **({"att": self.attachment.to_json()} if self.attachment else {}),
                **({"quote": self.quote.to_json()} if self.quote else {}),
                **({"timer": self.timer_s} if self.timer_s else {}),
                **({HEAD_FIELD: encode_head_field(head)} if head else {}),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        if len(data) > MAX_CONTENT_LEN:
            raise InvalidMessage(
                f"the message is {len(data)} bytes once encoded; at most {MAX_CONTENT_LEN} fit"
            )
        return data

    def __repr__(self) -> str:
        return (
            f"GroupContent({self.kind}, message_id={self.message_id!r}, <{len(self.value)} chars>)"
        )


def decode_group_content(data: bytes) -> GroupContent:
    """Parse a decrypted group payload; errors name the field, never quote a value."""
    if not data or len(data) > MAX_CONTENT_LEN:
        raise InvalidMessage(f"the payload is empty or more than {MAX_CONTENT_LEN} bytes")
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidMessage("the payload is not UTF-8 JSON") from exc
    if not isinstance(obj, dict) or obj.get("v") != CONTENT_VERSION:
        raise InvalidMessage("the payload is not a version 1 JSON object")
    kind = obj.get("kind")
    if kind not in ("text", "name"):
        raise InvalidMessage("the payload is of a kind this client does not support")
    value, message_id, sent_at = obj.get(kind), obj.get("id"), obj.get("sent_at")
    attachment = (
        AttachmentPointer.from_json(obj["att"]) if kind == "text" and "att" in obj else None
    )
    if not isinstance(value, str) or (not value and attachment is None):
        raise InvalidMessage(f"the payload's {kind} is missing or empty")
    if kind == "name":
        check_group_name(value)
    _check_id_and_time(message_id, sent_at)
    assert isinstance(message_id, str) and isinstance(sent_at, int)
    quote = Quote.from_json(obj["quote"]) if kind == "text" and "quote" in obj else None
    timer = obj.get("timer", 0) if kind == "text" else 0
    if not isinstance(timer, int) or isinstance(timer, bool) or not check_timer(timer):
        raise InvalidMessage("the payload's disappearing timer is not one this client offers")
    tree_head = None
    if kind == "text" and HEAD_FIELD in obj:
        try:
            tree_head = decode_head_field(obj[HEAD_FIELD])
        except MalformedGossip as exc:
            log.warning("ignoring a group message's gossiped tree head: %s", exc)
    return GroupContent(kind, message_id, value, sent_at, attachment, quote, timer, tree_head)


def _check_id_and_time(message_id: object, sent_at: object) -> None:
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise InvalidMessage("the payload's message id is missing or malformed")
    if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
        raise InvalidMessage("the payload's sent_at is not a non-negative integer")


@dataclass(frozen=True, slots=True)
class GroupTimerContent:
    """A member set the group's disappearing timer (``client.disappearing.TIMERS``)."""

    message_id: str
    timer_s: int
    sent_at_ms: int

    def encode(self) -> bytes:
        if not check_timer(self.timer_s):
            raise InvalidMessage("a disappearing timer is one the app offers")
        return json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "timer",
                "id": self.message_id,
                "timer": self.timer_s,
                "sent_at": self.sent_at_ms,
            },
            separators=(",", ":"),
        ).encode()


GroupControl = ReceiptContent | TypingContent | DeleteContent | GroupTimerContent
GroupPayload = GroupContent | GroupControl


def decode_group_payload(data: bytes) -> GroupPayload:
    """Any decrypted group payload: a text or name (:func:`decode_group_content`), a
    timer change, or a receipt, typing indicator or deletion as one-to-one has them."""
    try:
        obj = json.loads(data) if data and len(data) <= MAX_CONTENT_LEN else None
    except (UnicodeDecodeError, ValueError):
        obj = None
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind in ("receipt", "typing", "delete"):
        control = decode_payload(data)
        if isinstance(control, ReceiptContent | TypingContent | DeleteContent):
            return control
        raise InvalidMessage("the payload is of a kind this client does not support")
    if isinstance(obj, dict) and kind == "timer":
        if obj.get("v") != CONTENT_VERSION:
            raise InvalidMessage("the payload is not a version 1 JSON object")
        message_id, timer, sent_at = obj.get("id"), obj.get("timer"), obj.get("sent_at")
        _check_id_and_time(message_id, sent_at)
        if not isinstance(timer, int) or isinstance(timer, bool) or not check_timer(timer):
            raise InvalidMessage("the payload's disappearing timer is not one this client offers")
        assert isinstance(message_id, str) and isinstance(sent_at, int)
        return GroupTimerContent(message_id, timer, sent_at)
    return decode_group_content(data)
