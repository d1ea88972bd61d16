"""Tagging franking commitments as their copies are queued (docs/safety.md).

The sender sends one commitment per message (every device copy carries the same
franking key and content); the server binds it to each delivery — recipient,
recipient device, arrival time, and the sender where the request names one —
with its franking key. It never sees the content the commitment is to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sottovoce.protocol.public.franking import COMMITMENT_LEN, Delivery, delivery_tag
from sottovoce.server.encoding import b64decode
from sottovoce.server.problems import Problem
from sottovoce.storage.repository import AccountRecord, DeviceRecord, Envelope


def decode_commitment(value: str) -> bytes:
    commitment = b64decode(value, "commitment", max_len=COMMITMENT_LEN)
    if len(commitment) != COMMITMENT_LEN:
        raise Problem(400, "bad-commitment", f"commitment must be {COMMITMENT_LEN} bytes")
    return commitment


def frank(
    franking_key: bytes,
    commitment_b64: str | None,
    envelopes: Sequence[Envelope],
    *,
    recipients: Iterable[AccountRecord],
    sender: DeviceRecord | None,
    message_id: str,
    server_ts: int,
) -> list[Envelope]:
    """The envelopes with the commitment and each copy's tag; unchanged if there is
    no commitment (``POST /v1/messages`` accepts unfranked copies, which clients drop)."""
    if commitment_b64 is None:
        return list(envelopes)
    commitment = decode_commitment(commitment_b64)
    owner = {d.pk: (a.address, d.device_id) for a in recipients for d in a.devices}
    franked = []
    for envelope in envelopes:
        recipient, device_id = owner[envelope.recipient_device_pk]
        delivery = Delivery(
            recipient=recipient,
            recipient_device=device_id,
            server_ts=server_ts,
            sender=None if sender is None else sender.address,
            sender_device=None if sender is None else sender.device_id,
            message_id=message_id,
        )
        tag = delivery_tag(franking_key, commitment, delivery)
        # Built anew rather than with ``dataclasses.replace`` (twice the cost a copy).
        franked.append(
            Envelope(envelope.recipient_device_pk, envelope.type, envelope.body, commitment, tag)
        )
    return franked
