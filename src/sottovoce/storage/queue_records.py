"""The message queue's records: a copy to store, a stored copy, a full queue, a
recipient device gone.

Kept apart from the Repository so that the queue's writer (storage.queue_writes)
and the Repository share them; ``storage.repository`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass


class QueueFull(Exception):
    """A recipient device's queue is at its bound; the sender should retry later."""


class RecipientGone(Exception):
    """A device the send names was removed after the send read its account (a
    concurrent device-list change): nothing of the send was stored, and the
    sender's device list is stale."""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: int
    recipient_device_pk: int
    sender: str
    sender_device: int
    message_id: str
    type: str
    body: bytes
    server_ts: int
    # Franking (docs/safety.md): the sender's commitment and the server's tag over it.
    commitment: bytes | None = None
    franking_tag: bytes | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    recipient_device_pk: int
    type: str
    body: bytes
    commitment: bytes | None = None
    franking_tag: bytes | None = None
