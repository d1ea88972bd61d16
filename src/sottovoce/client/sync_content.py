"""What one device of an account tells its other devices: "I sent this".

Like Signal's ``SyncMessage.Sent``: when a person sends from one device, each of
their other devices gets a copy inside the encryption naming the recipient, and
files it as sent history of that conversation. Encoding: compact UTF-8 JSON
``{"v": 1, "kind": "sent", "to", "content"}`` where ``content`` is the encoded
payload the recipient got (``client.content``), as a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sottovoce.client.address import Address
from sottovoce.client.content import CONTENT_VERSION, MAX_CONTENT_LEN, TextContent, decode_content
from sottovoce.client.errors import ClientError, InvalidMessage

# The transcript wraps a payload of at most MAX_CONTENT_LEN; JSON string escaping
# can at most double it (plus the envelope), which one 64 KiB envelope does not
# always hold, so a transcript that large is refused before anything is sent.
MAX_TRANSCRIPT_LEN = MAX_CONTENT_LEN


def encode_transcript(destination: str, payload: bytes) -> bytes:
    data = json.dumps(
        {"v": CONTENT_VERSION, "kind": "sent", "to": destination, "content": payload.decode()},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    if len(data) > MAX_TRANSCRIPT_LEN:
        raise InvalidMessage(f"the message is {len(data)} bytes once encoded; too large")
    return data


@dataclass(frozen=True, slots=True)
class SentTranscript:
    destination: str
    content: TextContent

    def __repr__(self) -> str:
        return f"SentTranscript(to={self.destination!r}, id={self.content.message_id!r})"


def decode_transcript(data: bytes) -> SentTranscript:
    """Parse a sent transcript from another device of this account."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidMessage("the sent transcript is not UTF-8 JSON") from exc
    if not isinstance(obj, dict) or obj.get("kind") != "sent" or obj.get("v") != CONTENT_VERSION:
        raise InvalidMessage("a message from this account's own device is not a sent transcript")
    to, content = obj.get("to"), obj.get("content")
    try:
        destination = str(Address.parse(to if isinstance(to, str) else ""))
    except ClientError as exc:
        raise InvalidMessage("the sent transcript names no valid recipient") from exc
    if not isinstance(content, str):
        raise InvalidMessage("the sent transcript carries no content")
    return SentTranscript(destination, decode_content(content.encode()))
