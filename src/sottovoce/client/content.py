"""What travels inside the encryption: a small versioned, typed payload.

The server never sees it. The ``kind`` field lets receipts, reactions,
attachments and franking keys join later without a new wire format; the
protocol layer pads the encoded payload before encrypting it.

Encoding: compact UTF-8 JSON ``{"v": 1, "kind": "text", "id", "text", "sent_at"}``
with ``sent_at`` in milliseconds since the Unix epoch on the sender's clock, and
``"fwd": n`` when the text was forwarded n times before (``client.forwarding``).
``"quote"`` is the message a reply answers (``Quote``); ``"att"`` is an
attachment's pointer (``client.attachments``; the text may then be empty, a
caption) and ``"timer"`` the conversation's disappearing-message timer in
seconds (``client.disappearing``), which travels with every message so that
both sides agree on it. ``"sth"`` is a signed tree head of the key-transparency log
that the sender verified (``client.head_gossip``); a malformed one is dropped with a
warning and costs the message nothing, and clients that predate it ignore it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.disappearing import check_timer
from sottovoce.client.errors import InvalidMessage
from sottovoce.client.head_gossip import (
    HEAD_FIELD,
    MalformedGossip,
    decode_head_field,
    encode_head_field,
)

log = logging.getLogger(__name__)

CONTENT_VERSION = 1
# One encoded payload must fit one envelope: the relay takes at most 64 KiB of
# ciphertext per device copy (server.limits.MAX_ENVELOPE_BYTES), and a PreKey
# message adds about 1.8 KiB of header (ML-KEM-1024 ciphertext, keys, ids) plus up
# to one 160-byte padding block and the AEAD tag. 60 KiB leaves that room.
MAX_CONTENT_LEN = 60 * 1024
# The same message id rules as the relay's idempotency key (docs/api.md).
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A forward count is shown as "forwarded" or "forwarded many times"; beyond this a
# larger number means nothing more, so a peer cannot make us parse huge integers.
MAX_FORWARD_COUNT = 2**31 - 1


# A reply quotes the start of the message it answers, as Signal does, so the quote
# still reads when the original was deleted or never reached this device.
MAX_QUOTE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a reply answers: its id, its author and the start of its text."""

    message_id: str
    author: str
    excerpt: str = field(repr=False)

    def to_json(self) -> dict[str, str]:
        return {"id": self.message_id, "author": self.author, "text": self.excerpt}

    @classmethod
    def from_json(cls, obj: object) -> Quote:
        if not isinstance(obj, dict):
            raise InvalidMessage("the payload's quote is not a JSON object")
        message_id, author, excerpt = obj.get("id"), obj.get("author"), obj.get("text")
        if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
            raise InvalidMessage("the quote's message id is missing or malformed")
        if not isinstance(author, str) or not 0 < len(author) <= 80:
            raise InvalidMessage("the quote's author is missing or malformed")
        if not isinstance(excerpt, str) or len(excerpt) > MAX_QUOTE_CHARS:
            raise InvalidMessage("the quote's text is missing or too long")
        return cls(message_id, author, excerpt)


@dataclass(frozen=True, slots=True)
class TextContent:
    message_id: str
    text: str
    sent_at_ms: int
    forwarded: int = 0
    attachment: AttachmentPointer | None = None
    timer_s: int = 0
    quote: Quote | None = None
    # A signed tree head gossiped to the recipient (client.head_gossip).
    tree_head: bytes | None = field(default=None, repr=False)

    def encode(self) -> bytes:
        """The payload to encrypt; raises :class:`InvalidMessage` for empty or oversized text."""
        if not self.text and self.attachment is None:
            raise InvalidMessage("a message needs some text")
        data = json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "text",
                "id": self.message_id,
                "text": self.text,
                "sent_at": self.sent_at_ms,
                **({"fwd": self.forwarded} if self.forwarded else {}),
                **({"att": self.attachment.to_json()} if self.attachment else {}),
                **({"timer": self.timer_s} if self.timer_s else {}),
                **({"quote": self.quote.to_json()} if self.quote else {}),
                **({HEAD_FIELD: encode_head_field(self.tree_head)} if self.tree_head else {}),
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
        return f"TextContent(message_id={self.message_id!r}, text=<{len(self.text)} chars>)"


def decode_content(data: bytes) -> TextContent:
    """Parse a decrypted payload; :class:`InvalidMessage` names what is wrong with it.

    Error messages name the faulty field but never quote a value: it is plaintext.
    """
    if not data:
        raise InvalidMessage("the payload is empty")
    if len(data) > MAX_CONTENT_LEN:
        raise InvalidMessage(f"the payload is {len(data)} bytes, more than {MAX_CONTENT_LEN}")
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidMessage("the payload is not UTF-8 JSON") from exc
    if not isinstance(obj, dict):
        raise InvalidMessage("the payload is not a JSON object")
    if obj.get("v") != CONTENT_VERSION:
        raise InvalidMessage("the payload has an unknown version")
    if obj.get("kind") != "text":
        raise InvalidMessage("the payload is of a kind this client does not support")
    text, message_id, sent_at = obj.get("text"), obj.get("id"), obj.get("sent_at")
    attachment = AttachmentPointer.from_json(obj["att"]) if "att" in obj else None
    if not isinstance(text, str) or (not text and attachment is None):
        raise InvalidMessage("the payload's text is missing or empty")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise InvalidMessage("the payload's message id is missing or malformed")
    if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
        raise InvalidMessage("the payload's sent_at is not a non-negative integer")
    forwarded = obj.get("fwd", 0)
    if (
        not isinstance(forwarded, int)
        or isinstance(forwarded, bool)
        or not 0 <= forwarded <= MAX_FORWARD_COUNT
    ):
        raise InvalidMessage("the payload's forward count is not a small non-negative integer")
    timer = obj.get("timer", 0)
    if not isinstance(timer, int) or isinstance(timer, bool) or not check_timer(timer):
        raise InvalidMessage("the payload's disappearing timer is not one this client offers")
    quote = Quote.from_json(obj["quote"]) if "quote" in obj else None
    tree_head = None
    if HEAD_FIELD in obj:
        try:
            tree_head = decode_head_field(obj[HEAD_FIELD])
        except MalformedGossip as exc:
            log.warning("ignoring a message's gossiped tree head: %s", exc)
    return TextContent(message_id, text, sent_at, forwarded, attachment, timer, quote, tree_head)


# -- receipts (client.receipts) --------------------------------------------------------

# One receipt acknowledges at most this many messages: a page of fetched messages.
MAX_RECEIPT_IDS = 100
RECEIPT_TYPES = ("delivered", "read")


@dataclass(frozen=True, slots=True)
class ReceiptContent:
    """``{"v": 1, "kind": "receipt", "id", "type": "delivered"|"read", "ids", "sent_at"}``:
    the recipient's device says it stored (or the person read) the messages ``ids``."""

    message_id: str
    receipt_type: str
    message_ids: tuple[str, ...]
    sent_at_ms: int

    def encode(self) -> bytes:
        if self.receipt_type not in RECEIPT_TYPES:
            raise InvalidMessage("a receipt is 'delivered' or 'read'")
        if not 0 < len(self.message_ids) <= MAX_RECEIPT_IDS:
            raise InvalidMessage(f"a receipt names 1 to {MAX_RECEIPT_IDS} messages")
        return json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "receipt",
                "id": self.message_id,
                "type": self.receipt_type,
                "ids": list(self.message_ids),
                "sent_at": self.sent_at_ms,
            },
            separators=(",", ":"),
        ).encode()


@dataclass(frozen=True, slots=True)
class DeleteContent:
    """``{"v": 1, "kind": "delete", "id", "target", "sent_at"}``: the sender withdraws
    its message ``target`` ("delete for everyone", ``client.deletion``)."""

    message_id: str
    target: str
    sent_at_ms: int

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "delete",
                "id": self.message_id,
                "target": self.target,
                "sent_at": self.sent_at_ms,
            },
            separators=(",", ":"),
        ).encode()


def _decode_delete(obj: dict[str, object]) -> DeleteContent:
    message_id, target, sent_at = obj.get("id"), obj.get("target"), obj.get("sent_at")
    if obj.get("v") != CONTENT_VERSION:
        raise InvalidMessage("the deletion has an unknown version")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise InvalidMessage("the deletion's id is missing or malformed")
    if not isinstance(target, str) or not MESSAGE_ID.match(target):
        raise InvalidMessage("the deletion's target is missing or malformed")
    if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
        raise InvalidMessage("the deletion's sent_at is not a non-negative integer")
    return DeleteContent(message_id, target, sent_at)


@dataclass(frozen=True, slots=True)
class TypingContent:
    """``{"v": 1, "kind": "typing", "id", "started", "sent_at"}``: the sender started or
    stopped writing to us (``client.receipts``: shown only while fresh)."""

    message_id: str
    started: bool
    sent_at_ms: int

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "typing",
                "id": self.message_id,
                "started": self.started,
                "sent_at": self.sent_at_ms,
            },
            separators=(",", ":"),
        ).encode()


def _decode_typing(obj: dict[str, object]) -> TypingContent:
    message_id, started, sent_at = obj.get("id"), obj.get("started"), obj.get("sent_at")
    if obj.get("v") != CONTENT_VERSION:
        raise InvalidMessage("the typing indicator has an unknown version")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise InvalidMessage("the typing indicator's id is missing or malformed")
    if not isinstance(started, bool):
        raise InvalidMessage("the typing indicator's started is not true or false")
    if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
        raise InvalidMessage("the typing indicator's sent_at is not a non-negative integer")
    return TypingContent(message_id, started, sent_at)


def decode_payload(data: bytes) -> TextContent | ReceiptContent | DeleteContent | TypingContent:
    """A decrypted one-to-one payload: a message, a receipt for messages we sent, or
    the withdrawal of a message."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        obj = None
    if isinstance(obj, dict) and obj.get("kind") == "delete":
        return _decode_delete(obj)
    if isinstance(obj, dict) and obj.get("kind") == "typing":
        return _decode_typing(obj)
    if not isinstance(obj, dict) or obj.get("kind") != "receipt":
        return decode_content(data)
    if obj.get("v") != CONTENT_VERSION:
        raise InvalidMessage("the receipt has an unknown version")
    message_id, kind, ids, sent_at = (obj.get(k) for k in ("id", "type", "ids", "sent_at"))
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise InvalidMessage("the receipt's id is missing or malformed")
    if kind not in RECEIPT_TYPES:
        raise InvalidMessage("the receipt's type is not one this client knows")
    if (
        not isinstance(ids, list)
        or not 0 < len(ids) <= MAX_RECEIPT_IDS
        or not all(isinstance(i, str) and MESSAGE_ID.match(i) for i in ids)
    ):
        raise InvalidMessage("the receipt's message ids are missing or malformed")
    if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
        raise InvalidMessage("the receipt's sent_at is not a non-negative integer")
    return ReceiptContent(message_id, str(kind), tuple(ids), sent_at)
