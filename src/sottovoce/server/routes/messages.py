"""Sending (one request, every device copy), fetching and acknowledging messages."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, field_validator

from sottovoce.server import limits
from sottovoce.server.auth import now_ms
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.problems import Problem
from sottovoce.server.routes.accounts import lookup_account
from sottovoce.server.routes.dependencies import authenticated_device
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
    sender: str
    sender_device: int
    type: str
    body: str
    server_ts: int


class FetchResult(BaseModel):
    messages: list[DeliveredMessage]
    more: bool
    prekeys_low: bool


# Strict: a JSON string or boolean is not a queue id, whatever Python would coerce.
QueueId = Annotated[int, Field(ge=1, le=limits.MAX_QUEUE_ID, strict=True)]


class AckRequest(BaseModel):
    ids: list[QueueId] = Field(max_length=limits.MAX_FETCH)


class AckResult(BaseModel):
    deleted: int


def delivered(message: QueuedMessage) -> DeliveredMessage:
    return DeliveredMessage(
        id=message.id,
        message_id=message.message_id,
        sender=message.sender,
        sender_device=message.sender_device,
        type=message.type,
        body=b64encode(message.body),
        server_ts=message.server_ts,
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
) -> SendResult:
    lim = state.settings.limits
    if len(body.envelopes) > lim.max_envelopes_per_message:
        raise Problem(
            413,
            "too-many-envelopes",
            f"a message carries at most {lim.max_envelopes_per_message} envelopes",
        )
    account = await lookup_account(state, body.recipient)
    # A retry is answered as one even if the recipient's devices changed since the
    # first attempt was stored: the stored copies stand, and re-sending to the new
    # device set is a new message with a new id.
    if await state.repo.sent_before(sender.pk, body.message_id):
        return SendResult(message_id=body.message_id, stored=0, duplicate=True)
    # Copies for the sender's own other devices go to its own address; the sending
    # device itself is never a recipient.
    by_device = {d.device_id: d for d in account.devices if d.pk != sender.pk}
    named = [e.device_id for e in body.envelopes]
    if len(set(named)) != len(named):
        raise Problem(400, "duplicate-envelope", "two envelopes name the same device")
    missing = sorted(by_device.keys() - set(named))
    extra = sorted(set(named) - by_device.keys())
    if missing or extra:
        raise Problem(
            409,
            "stale-devices",
            f"{account.address} has devices {sorted(by_device)}",
            missing=missing,
            extra=extra,
        )
    envelopes = [
        Envelope(
            by_device[e.device_id].pk,
            e.type,
            b64decode(e.body, f"envelopes[{i}].body", max_len=lim.max_envelope_bytes),
        )
        for i, e in enumerate(body.envelopes)
    ]
    try:
        stored = await state.repo.enqueue(
            sender=sender,
            message_id=body.message_id,
            envelopes=envelopes,
            server_ts=now_ms(),
            max_queue_depth=lim.max_queue_depth,
        )
    except QueueFull as exc:
        raise Problem(
            429, "queue-full", f"{account.address} has too many undelivered messages; retry later"
        ) from exc
    if stored is None:
        return SendResult(message_id=body.message_id, stored=0, duplicate=True)
    for message in stored:
        await state.fanout.publish(message.recipient_device_pk)
    return SendResult(message_id=body.message_id, stored=len(stored), duplicate=False)


@router.get("/v1/messages", response_model=FetchResult)
async def fetch(
    limit: int = Query(default=100, ge=1, le=limits.MAX_FETCH),
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> FetchResult:
    messages = await state.repo.fetch(device.pk, limit + 1)
    return FetchResult(
        messages=[delivered(m) for m in messages[:limit]],
        more=len(messages) > limit,
        prekeys_low=await prekeys_low(state, device.pk),
    )


@router.post("/v1/messages/ack", response_model=AckResult)
async def ack(
    body: AckRequest,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> AckResult:
    return AckResult(deleted=await state.repo.ack(device.pk, body.ids))
