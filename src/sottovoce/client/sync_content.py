"""What one device of an account tells its other devices.

Like Signal's ``SyncMessage``s, each inside the encryption to this account's own
devices only. Encoding: compact UTF-8 JSON with ``"v": 1`` and a ``kind``:

- ``sent`` (Signal's ``SyncMessage.Sent``): ``{"to", "content"}``, where ``content``
  is the encoded payload the recipient got (``client.content``), as a string. The
  other devices file a message as sent history of that conversation, and a
  ``delete`` payload (delete for everyone) removes the sent message there too.
- ``delete-for-me`` (Signal's ``SyncMessage.DeleteForMe``): ``{"id", "peer",
  "ids"}``: the person deleted these messages of the conversation with ``peer``
  on one device, and every device removes them; the peer is told nothing. For a
  group, ``"group"`` (its MLS group id, standard base64) replaces ``"peer"``:
  group names are each device's own, the group id is the same on all of them.
- ``timer``: ``{"id", "peer", "seconds", "sent_at"}``: the person changed the
  conversation's disappearing timer (``client.disappearing``) on one device.
- ``device-ready``: ``{"id"}``: a newly linked device has uploaded its KeyPackages
  (the first thing it does), so whichever device of the account is online adds it
  to the account's groups now, not at its next connection (as Signal's new linked
  device at once asks the others for a sync, ``SyncMessage.Request``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from dataclasses import dataclass

from sottovoce.client.address import Address
from sottovoce.client.content import (
    CONTENT_VERSION,
    MAX_CONTENT_LEN,
    MAX_RECEIPT_IDS,
    MESSAGE_ID,
    DeleteContent,
    TextContent,
    decode_payload,
)
from sottovoce.client.disappearing import check_timer
from sottovoce.client.errors import ClientError, InvalidMessage
from sottovoce.client.group_chat import group_id_of, history_peer

# The transcript wraps a payload of at most MAX_CONTENT_LEN; JSON string escaping
# can at most double it (plus the envelope), which one 64 KiB envelope does not
# always hold, so a transcript that large is refused before anything is sent.
MAX_TRANSCRIPT_LEN = MAX_CONTENT_LEN
# One delete-for-me names at most as many messages as one receipt acknowledges.
MAX_DELETED_IDS = MAX_RECEIPT_IDS
# A group id is 1 to 64 bytes, the Delivery Service's bound (docs/api.md, "Groups").
MAX_GROUP_ID_LEN = 64


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
    content: TextContent | DeleteContent

    @property
    def message_id(self) -> str:
        return self.content.message_id

    def __repr__(self) -> str:
        return f"SentTranscript(to={self.destination!r}, id={self.content.message_id!r})"


@dataclass(frozen=True, slots=True)
class DeleteForMeSync:
    """``peer`` is the conversation's history key: an address, or a group's
    (``group_chat.history_peer``)."""

    message_id: str
    peer: str
    message_ids: tuple[str, ...]

    def encode(self) -> bytes:
        if not 0 < len(self.message_ids) <= MAX_DELETED_IDS:
            raise InvalidMessage(f"a deletion names 1 to {MAX_DELETED_IDS} messages")
        group_id = group_id_of(self.peer)
        conversation = (
            {"peer": self.peer}
            if group_id is None
            else {"group": base64.b64encode(group_id).decode()}
        )
        return json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "delete-for-me",
                "id": self.message_id,
                **conversation,
                "ids": list(self.message_ids),
            },
            separators=(",", ":"),
        ).encode()


@dataclass(frozen=True, slots=True)
class TimerSync:
    message_id: str
    peer: str
    seconds: int
    sent_at_ms: int

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": CONTENT_VERSION,
                "kind": "timer",
                "id": self.message_id,
                "peer": self.peer,
                "seconds": self.seconds,
                "sent_at": self.sent_at_ms,
            },
            separators=(",", ":"),
        ).encode()


@dataclass(frozen=True, slots=True)
class DeviceReadySync:
    message_id: str

    def encode(self) -> bytes:
        return json.dumps(
            {"v": CONTENT_VERSION, "kind": "device-ready", "id": self.message_id},
            separators=(",", ":"),
        ).encode()


# What changes a conversation on every device (``own_sync.apply_sync``).
OwnSync = SentTranscript | DeleteForMeSync | TimerSync
SyncMessage = OwnSync | DeviceReadySync


def decode_transcript(data: bytes) -> SentTranscript:
    """Parse a sent transcript from another device of this account."""
    sync = decode_sync(data)
    if not isinstance(sync, SentTranscript):
        raise InvalidMessage("a message from this account's own device is not a sent transcript")
    return sync


def decode_sync(data: bytes) -> SyncMessage:
    """Parse what another device of this account sent this one; :class:`InvalidMessage`
    names the faulty field (never its value)."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidMessage("the message from this account's own device is not JSON") from exc
    if not isinstance(obj, dict) or obj.get("v") != CONTENT_VERSION:
        raise InvalidMessage("a message from this account's own device has an unknown version")
    kind = obj.get("kind")
    if kind == "sent":
        return _sent(obj)
    message_id = obj.get("id")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise InvalidMessage("the sync message's id is missing or malformed")
    if kind == "device-ready":
        return DeviceReadySync(message_id)
    if kind == "delete-for-me" and "group" in obj:
        peer = _group(obj.get("group"))
    else:
        peer = _peer(obj.get("peer"))
    if kind == "delete-for-me":
        ids = obj.get("ids")
        if (
            not isinstance(ids, list)
            or not 0 < len(ids) <= MAX_DELETED_IDS
            or not all(isinstance(i, str) and MESSAGE_ID.match(i) for i in ids)
        ):
            raise InvalidMessage("the deletion's message ids are missing or malformed")
        return DeleteForMeSync(message_id, peer, tuple(ids))
    if kind == "timer":
        seconds, sent_at = obj.get("seconds"), obj.get("sent_at")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not check_timer(seconds):
            raise InvalidMessage("the synced disappearing timer is not one this client offers")
        if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
            raise InvalidMessage("the synced timer's sent_at is not a non-negative integer")
        return TimerSync(message_id, peer, seconds, sent_at)
    raise InvalidMessage("a message from this account's own device is of an unknown kind")


def _peer(value: object) -> str:
    try:
        return str(Address.parse(value if isinstance(value, str) else ""))
    except ClientError as exc:
        raise InvalidMessage("the sync message names no valid conversation") from exc


def _group(value: object) -> str:
    """The history key of the group a sync message names by its id."""
    group_id = None
    if isinstance(value, str):
        with contextlib.suppress(binascii.Error, ValueError):
            group_id = base64.b64decode(value, validate=True)
    if group_id is None:
        raise InvalidMessage("the sync message's group id is not base64")
    if not 0 < len(group_id) <= MAX_GROUP_ID_LEN:
        raise InvalidMessage(f"the sync message's group id is not 1 to {MAX_GROUP_ID_LEN} bytes")
    return history_peer(group_id)


def _sent(obj: dict[str, object]) -> SentTranscript:
    destination, content = _peer(obj.get("to")), obj.get("content")
    if not isinstance(content, str):
        raise InvalidMessage("the sent transcript carries no content")
    payload = decode_payload(content.encode())
    if not isinstance(payload, TextContent | DeleteContent):
        raise InvalidMessage("the sent transcript carries neither a message nor a deletion")
    return SentTranscript(destination, payload)
