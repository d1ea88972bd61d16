"""What the SDK hands back to the program: plain, immutable values.

Reprs leave the text out, so logging one of these never writes a message's
content to a log file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

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


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    message_id: str
    peer: str
    direction: Direction
    text: str = field(repr=False)
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    peer: str
    last_text: str = field(repr=False)
    last_timestamp: datetime
    unread: int


def datetime_from_ms(ms: int) -> datetime:
    """Milliseconds since the Unix epoch (the wire's unit) as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)
