"""What the SDK hands back to the program: plain, immutable values.

Reprs leave the text out, so logging one of these never writes a message's
content to a log file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sottovoce.client.attachments import AttachmentPointer
    from sottovoce.client.content import Quote

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str
    recipient: str
    text: str = field(repr=False)
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    message_id: str
    sender: str
    sender_device: int
    text: str = field(repr=False)
    sent_at: datetime
    received_at: datetime
    # Times the text was forwarded before reaching us (``client.forwarding.label``).
    forwarded: int = 0
    # The local name of the group it was sent to (``client.groups``); None one to one.
    group: str | None = None
    # Set for an event shown as a line rather than a text someone wrote:
    # ``group-added`` ("you were added to GROUP by ADDRESS", ``sender`` added us).
    event: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    message_id: str
    peer: str
    direction: Direction
    text: str = field(repr=False)
    timestamp: datetime
    forwarded: int = 0
    # A file sent with the message (``client.attachments``); the text is its caption.
    attachment: AttachmentPointer | None = None
    # When a disappearing message is removed (``client.disappearing``).
    expires_at: datetime | None = None
    # The message this one replies to (``client.content.Quote``).
    quote: Quote | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    peer: str
    last_text: str = field(repr=False)
    last_timestamp: datetime
    unread: int
    # A stranger started it and it awaits accept, delete or block (``client.requests``).
    request: bool = False


def datetime_from_ms(ms: int) -> datetime:
    """Milliseconds since the Unix epoch (the wire's unit) as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)
