"""What travels inside the encryption: a small versioned, typed payload.

The server never sees it. Keeping it typed (``kind``) lets receipts, reactions,
attachments and franking keys join later without a new wire format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

CONTENT_VERSION = 1
# Matches the protocol's plaintext ceiling with room for the JSON framing.
MAX_TEXT_CHARS = 64_000


class ContentError(ValueError):
    """A decrypted payload is not a content object this client understands."""


@dataclass(frozen=True, slots=True)
class TextContent:
    message_id: str
    text: str
    sent_at_ms: int

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "text",
                "id": self.message_id,
                "text": self.text,
                "sent_at": self.sent_at_ms,
            },
            separators=(",", ":"),
        ).encode()


def decode_content(data: bytes) -> TextContent:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ContentError("payload is not JSON") from exc
    if not isinstance(obj, dict) or obj.get("v") != CONTENT_VERSION:
        raise ContentError("payload has an unknown version")
    if obj.get("kind") != "text":
        raise ContentError(f"payload kind {obj.get('kind')!r} is not supported")
    text, message_id, sent_at = obj.get("text"), obj.get("id"), obj.get("sent_at")
    if not isinstance(text, str) or not isinstance(message_id, str) or not isinstance(sent_at, int):
        raise ContentError("text payload fields have the wrong types")
    return TextContent(message_id, text, sent_at)
