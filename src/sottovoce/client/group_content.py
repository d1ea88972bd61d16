"""What a group application message carries inside MLS's encryption.

Compact UTF-8 JSON like one-to-one content (``client.content``), with two kinds:
``text`` (``{"v": 1, "kind": "text", "id", "text", "sent_at"}``) and ``name``
(``{"v": 1, "kind": "name", "id", "name", "sent_at"}``), which a member sends
after adding people so that every member shows the group under the name its
creator gave it. The server never sees either: the name of a group is content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from sottovoce.client.content import CONTENT_VERSION, MAX_CONTENT_LEN, MESSAGE_ID
from sottovoce.client.errors import InvalidMessage

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

    def encode(self) -> bytes:
        if not self.value:
            raise InvalidMessage("a message needs some text")
        field = "text" if self.kind == "text" else "name"
        data = json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": self.kind,
                "id": self.message_id,
                field: self.value,
                "sent_at": self.sent_at_ms,
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
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"the payload's {kind} is missing or empty")
    if kind == "name":
        check_group_name(value)
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise InvalidMessage("the payload's message id is missing or malformed")
    if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
        raise InvalidMessage("the payload's sent_at is not a non-negative integer")
    return GroupContent(kind, message_id, value, sent_at)
