"""A delivered envelope as the server hands it over, checked before anything uses it.

The server is not trusted with content, nor to be well-formed: the fields of
``{id, message_id, sender, sender_device, type, body, server_ts}`` (docs/api.md)
are validated here, and the declared ``type`` must agree with the protocol
wire prefix of ``body``. A ``sealed`` envelope names no sender: ``client.sealed``
opens it into the inner envelope, which does. ``commitment`` and
``franking_tag`` are the message's franking (docs/safety.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.client import server_json as sj
from sottovoce.client.address import Address
from sottovoce.client.content import MESSAGE_ID
from sottovoce.client.errors import InvalidAddress, MalformedResponse
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.sealed_sender import MAX_SEALED_LEN
from sottovoce.protocol.wire import MAX_MESSAGE_LEN, MessageType, message_type

_TYPES = {"prekey": MessageType.PREKEY, "message": MessageType.MESSAGE}
_WHERE = "envelope"


@dataclass(frozen=True, slots=True)
class InboundEnvelope:
    queue_id: int
    message_id: str
    sender: str
    sender_device: int
    kind: MessageType
    body: bytes
    server_ts: int
    commitment: bytes | None = None
    franking_tag: bytes | None = None
    # Until client.sealed opens it: no sender, and ``kind`` is only a placeholder.
    sealed: bool = False
    # Once opened: the sender certificate that named the sender (verified).
    sender_certificate: bytes | None = None

    @property
    def dedup_key(self) -> str:
        """``sender/device/message_id``: at-least-once delivery is made exactly-once
        by remembering this (none of the parts can contain ``/``)."""
        return f"{self.sender}/{self.sender_device}/{self.message_id}"

    def __repr__(self) -> str:
        return (
            f"InboundEnvelope(queue_id={self.queue_id}, sender={self.sender!r}, "
            f"sender_device={self.sender_device}, body=<{len(self.body)} bytes>)"
        )


def queue_id_of(raw: object) -> int | None:
    """The id to acknowledge ``raw`` with, if it has a usable one."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return None
    return value


def parse_envelope(raw: object) -> InboundEnvelope:
    """Validate one delivered envelope; :class:`MalformedResponse` names the bad field."""
    obj = sj.as_object(raw, _WHERE)
    queue_id = queue_id_of(obj)
    if queue_id is None:
        raise MalformedResponse("envelope.id is not a positive integer")
    message_id = sj.string(obj, "message_id", _WHERE)
    if not MESSAGE_ID.match(message_id):
        raise MalformedResponse("envelope.message_id is not 1-64 characters of [A-Za-z0-9_-]")
    commitment = None if obj.get("commitment") is None else sj.binary(obj, "commitment", _WHERE)
    tag = None if obj.get("franking_tag") is None else sj.binary(obj, "franking_tag", _WHERE)
    if obj.get("type") == "sealed":
        body = sj.binary(obj, "body", _WHERE)
        if not 0 < len(body) <= MAX_SEALED_LEN:
            raise MalformedResponse("envelope.body is not a sealed envelope's size")
        server_ts = sj.integer(obj, "server_ts", _WHERE)
        return InboundEnvelope(
            queue_id, message_id, "", 0, MessageType.MESSAGE, body, server_ts, commitment, tag, True
        )
    try:
        sender = str(Address.parse(sj.string(obj, "sender", _WHERE)))
    except InvalidAddress as exc:
        raise MalformedResponse("envelope.sender is not an address") from exc
    sender_device = sj.integer(obj, "sender_device", _WHERE)
    if sender_device < 1:
        raise MalformedResponse("envelope.sender_device is not a positive integer")
    kind = _TYPES.get(sj.string(obj, "type", _WHERE))
    if kind is None:
        raise MalformedResponse("envelope.type is neither 'prekey' nor 'message'")
    body = sj.binary(obj, "body", _WHERE)
    if not 0 < len(body) <= MAX_MESSAGE_LEN:
        raise MalformedResponse(f"envelope.body is empty or longer than {MAX_MESSAGE_LEN} bytes")
    try:
        wire_kind = message_type(body)
    except ProtocolError as exc:
        raise MalformedResponse(f"envelope.body is not a protocol message: {exc}") from exc
    if wire_kind is not kind:
        raise MalformedResponse("envelope.type does not match the message it carries")
    return InboundEnvelope(
        queue_id,
        message_id,
        sender,
        sender_device,
        kind,
        body,
        sj.integer(obj, "server_ts", _WHERE),
        commitment,
        tag,
    )
