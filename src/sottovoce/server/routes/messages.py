"""Sending (one request, every device copy), fetching and acknowledging messages."""

from __future__ import annotations

import re
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, field_validator

from sottovoce.server import limits, metrics
from sottovoce.server.auth import now_ms
from sottovoce.server.delivery_keys import DeliveryKeys, delivery_keys
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.franking import frank
from sottovoce.server.problems import Problem
from sottovoce.server.routes.accounts import lookup_account
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.routes.key_packages import key_packages_low
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage.repository import DeviceRecord, Envelope, QueuedMessage, QueueFull

MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

router = APIRouter()


class EnvelopeIn(BaseModel):
    device_id: int = Field(ge=1, le=limits.MAX_DEVICE_ID)
    type: Literal["prekey", "message"]
    body: str = Field(min_length=1)


class SendMessage(BaseModel):
    message_id: str = Field(max_length=limits.MAX_MESSAGE_ID_LEN)
    recipient: str = Field(max_length=80)
    envelopes: list[EnvelopeIn] = Field(min_length=1)
    # Copies for the sender's own other devices (linked devices show sent messages).
    own_envelopes: list[EnvelopeIn] = Field(default_factory=list)
    # Franking (docs/safety.md): base64 HMAC commitment to the content, one per message.
    commitment: str | None = Field(default=None, max_length=64)

    @field_validator("message_id")
    @classmethod
    def _message_id(cls, value: str) -> str:
        if not MESSAGE_ID.fullmatch(value):
            raise ValueError("message_id must be 1-64 characters of [A-Za-z0-9_-]")
        return value


class SendResult(BaseModel):
    message_id: str
    stored: int
    duplicate: bool


class DeliveredMessage(BaseModel):
    id: int
    message_id: str
    # None for a sealed message: the server does not know its sender.
    sender: str | None
    sender_device: int | None
    type: str
    body: str
    server_ts: int
    # Franking (docs/safety.md): the sender's commitment and the server's tag over it.
    commitment: str | None = None
    franking_tag: str | None = None


class FetchResult(BaseModel):
    messages: list[DeliveredMessage]
    more: bool
    prekeys_low: bool
    # The device holds few MLS KeyPackages (docs/groups.md) and should upload more.
    key_packages_low: bool
    # With ``more``: pass as ``after`` to page on without acknowledging (else null).
    cursor: int | None = None


# Strict: a JSON string or boolean is not a queue id, whatever Python would coerce.
QueueId = Annotated[int, Field(ge=1, le=limits.MAX_QUEUE_ID, strict=True)]


class AckRequest(BaseModel):
    ids: list[QueueId] = Field(max_length=limits.MAX_FETCH)


class AckResult(BaseModel):
    deleted: int


def delivered(message: QueuedMessage) -> DeliveredMessage:
    sealed = message.type == "sealed"
    return DeliveredMessage(
        id=message.id,
        message_id=message.message_id,
        sender=None if sealed else message.sender,
        sender_device=None if sealed else message.sender_device,
        type=message.type,
        body=b64encode(message.body),
        server_ts=message.server_ts,
        commitment=None if message.commitment is None else b64encode(message.commitment),
        franking_tag=None if message.franking_tag is None else b64encode(message.franking_tag),
    )


async def prekeys_low(state: ServerState, device_pk: int) -> bool:
    status = await state.repo.prekey_status(device_pk)
    return min(status["one_time_prekeys"] or 0, status["kem_one_time_prekeys"] or 0) < (
        limits.PREKEY_LOW_WATERMARK
    )


@router.post("/v1/messages", response_model=SendResult)
async def send(
    body: SendMessage,
    sender: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
    keys: DeliveryKeys = Depends(delivery_keys),
) -> SendResult:
    lim = state.settings.limits
    if len(body.envelopes) + len(body.own_envelopes) > lim.max_envelopes_per_message:
        raise Problem(
            413,
            "too-many-envelopes",
            f"a message carries at most {lim.max_envelopes_per_message} envelopes",
        )
    account = await lookup_account(state, body.recipient)
    # Minors' protection, stranger rate limits, reported blocks (docs/safety.md).
    deliver = await state.safety.admit_unsealed(sender, account)
    # A retry is answered as one even if the recipient's devices changed since the
    # first attempt was stored: the stored copies stand, and re-sending to the new
    # device set is a new message with a new id.
    if await state.repo.sent_before(sender.pk, body.message_id):
        return SendResult(message_id=body.message_id, stored=0, duplicate=True)
    # Copies for the sender's own other devices go to its own address; the sending
    # device itself is never a recipient.
    by_device = {d.device_id: d for d in account.devices if d.pk != sender.pk}
    own = await lookup_account(state, sender.address) if account.address != sender.address else None
    own_devices = {} if own is None else {d.device_id: d for d in own.devices if d.pk != sender.pk}
    named = [e.device_id for e in body.envelopes]
    own_named = [e.device_id for e in body.own_envelopes]
    if len(set(named)) != len(named) or len(set(own_named)) != len(own_named):
        raise Problem(400, "duplicate-envelope", "two envelopes name the same device")
    if own is None and own_named:
        raise Problem(400, "duplicate-envelope", "a message to yourself has no own_envelopes")
    missing = sorted(by_device.keys() - set(named))
    extra = sorted(set(named) - by_device.keys())
    own_missing = sorted(own_devices.keys() - set(own_named))
    own_extra = sorted(set(own_named) - own_devices.keys())
    if missing or extra or own_missing or own_extra:
        raise Problem(
            409,
            "stale-devices",
            f"{account.address} has devices {sorted(by_device)}, "
            f"and your other devices are {sorted(own_devices)}",
            missing=missing,
            extra=extra,
            own_missing=own_missing,
            own_extra=own_extra,
        )
    envelopes = [
        Envelope(
            targets[e.device_id].pk,
            e.type,
            b64decode(e.body, f"{field}[{i}].body", max_len=lim.max_envelope_bytes),
        )
        for field, sent, targets in (
            ("envelopes", body.envelopes, by_device),
            ("own_envelopes", body.own_envelopes, own_devices),
        )
        for i, e in enumerate(sent)
    ]
    # The recipient reported blocking the sender: their copies are dropped, the
    # sender's own copies kept, and the answer is the one a delivery gets.
    dropped = 0 if deliver else len(body.envelopes)
    envelopes = envelopes[dropped:]
    if not envelopes:
        return SendResult(message_id=body.message_id, stored=dropped, duplicate=False)
    server_ts = now_ms()
    envelopes = frank(
        keys.franking_key,
        body.commitment,
        envelopes,
        recipients=(account,) if own is None else (account, own),
        sender=sender,
        message_id=body.message_id,
        server_ts=server_ts,
    )
    stored = await queue_copies(
        state,
        sender=sender,
        recipient=account.address,
        message_id=body.message_id,
        envelopes=envelopes,
        server_ts=server_ts,
    )
    if stored is None:
        return SendResult(message_id=body.message_id, stored=0, duplicate=True)
    return SendResult(message_id=body.message_id, stored=dropped + len(stored), duplicate=False)


async def queue_copies(
    state: ServerState,
    *,
    sender: DeviceRecord | None,
    recipient: str,
    message_id: str,
    envelopes: list[Envelope],
    server_ts: int,
) -> list[QueuedMessage] | None:
    """Store every copy in one transaction and wake the recipient devices; ``None``
    for a retry of copies still queued. ``sender`` is ``None`` for a sealed send."""
    started = time.perf_counter()
    try:
        stored = await state.repo.enqueue(
            sender=sender,
            message_id=message_id,
            envelopes=envelopes,
            server_ts=server_ts,
            max_queue_depth=state.settings.limits.max_queue_depth,
        )
    except QueueFull as exc:
        raise Problem(
            429, "queue-full", f"{recipient} has too many undelivered messages; retry later"
        ) from exc
    metrics.SEND_SECONDS.observe(time.perf_counter() - started)
    if stored is None:
        return None
    metrics.ACCEPTED.inc(len(stored))
    for message in stored:
        await state.fanout.publish(message.recipient_device_pk)
    return stored


@router.get("/v1/messages", response_model=FetchResult)
async def fetch(
    limit: int = Query(default=100, ge=1, le=limits.MAX_FETCH),
    after: int = Query(default=0, ge=0, le=limits.MAX_QUEUE_ID),
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> FetchResult:
    """The oldest queued messages; ``after`` (the last page's ``cursor``) pages on
    without acknowledging. A cursor covers what was queued when its page was read:
    a fetch without one starts again from the oldest unacknowledged message, which
    also picks up a copy that committed late with a lower id (PostgreSQL)."""
    messages = await state.repo.fetch(device.pk, limit + 1, after_id=after)
    metrics.delivered(messages[:limit])
    more = len(messages) > limit
    return FetchResult(
        messages=[delivered(m) for m in messages[:limit]],
        more=more,
        cursor=messages[limit - 1].id if more else None,
        prekeys_low=await prekeys_low(state, device.pk),
        key_packages_low=await key_packages_low(state, device.pk),
    )


@router.post("/v1/messages/ack", response_model=AckResult)
async def ack(
    body: AckRequest,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> AckResult:
    deleted = await state.repo.ack(device.pk, body.ids)
    metrics.ACKNOWLEDGED.inc(deleted)
    return AckResult(deleted=deleted)
