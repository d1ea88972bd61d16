"""Sending (``server.sending``), fetching and acknowledging messages over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from sottovoce.server import limits, metrics
from sottovoce.server.delivery_keys import DeliveryKeys, delivery_keys
from sottovoce.server.encoding import b64encode
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.routes.key_packages import key_packages_low
from sottovoce.server.sending import SendMessage, SendResult, send_message
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage.repository import DeviceRecord, QueuedMessage

router = APIRouter()


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


def delivered_fields(message: QueuedMessage) -> dict[str, Any]:
    """A :class:`DeliveredMessage`'s fields in its order, built without the model:
    the WebSocket writes one per envelope (the same JSON as ``model_dump``)."""
    sealed = message.type == "sealed"
    commitment, tag = message.commitment, message.franking_tag
    return {
        "id": message.id,
        "message_id": message.message_id,
        "sender": None if sealed else message.sender,
        "sender_device": None if sealed else message.sender_device,
        "type": message.type,
        "body": b64encode(message.body),
        "server_ts": message.server_ts,
        "commitment": None if commitment is None else b64encode(commitment),
        "franking_tag": None if tag is None else b64encode(tag),
    }


def delivered(message: QueuedMessage) -> DeliveredMessage:
    return DeliveredMessage(**delivered_fields(message))


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
    return await send_message(state, keys, sender, body)


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
