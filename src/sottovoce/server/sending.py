"""One unsealed send, whichever way it arrives.

``POST /v1/messages`` and a WebSocket ``send`` frame (``routes.websocket``) both
call :func:`send_message` with the authenticated sender and the parsed body, so
every check applies identically: limits, the safety controls, stale devices,
franking, idempotent retries, queue depth. A refusal raises :class:`Problem`,
which the route renders as a problem document and the socket as a problem frame.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Collection, Mapping
from typing import Literal, Protocol

from pydantic import BaseModel, Field, field_validator

from sottovoce.server import limits, metrics
from sottovoce.server.auth import now_ms
from sottovoce.server.delivery_keys import DeliveryKeys
from sottovoce.server.encoding import b64decode
from sottovoce.server.franking import frank
from sottovoce.server.problems import Problem
from sottovoce.server.routes.accounts import lookup_accounts
from sottovoce.server.state import ServerState
from sottovoce.storage.queue_writes import Enqueue
from sottovoce.storage.repository import (
    AccountRecord,
    DeviceRecord,
    Envelope,
    QueuedMessage,
    QueueFull,
    RecipientGone,
    enqueue_request,
)

MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


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


class Enqueuing(Protocol):
    """What stores a checked send's copies: ``Repository.enqueue_one``, or a
    WebSocket's submission queue (``routes.websocket``), which hands its sends to
    the storage in the order they came."""

    def __call__(self, send: Enqueue, /) -> Awaitable[list[QueuedMessage] | None]: ...


async def send_message(
    state: ServerState,
    keys: DeliveryKeys,
    sender: DeviceRecord,
    body: SendMessage,
    *,
    enqueue: Enqueuing | None = None,
) -> SendResult:
    """Check and store one message for every device named. ``enqueue`` stores it
    (``Repository.enqueue_one`` by default): a WebSocket passes its submission queue's,
    so that sends made one after another on it are stored (and delivered) in that
    order."""
    lim = state.settings.limits
    check_envelope_count(
        len(body.envelopes) + len(body.own_envelopes), lim.max_envelopes_per_message
    )
    # The recipient and the sender's own account (its other devices) in one read.
    own: AccountRecord | None = None
    if body.recipient == sender.address:
        (account,) = await lookup_accounts(state, body.recipient)
    else:
        account, own = await lookup_accounts(state, body.recipient, sender.address)
    # Minors' protection, stranger rate limits, reported blocks (docs/safety.md).
    deliver = await state.safety.admit_unsealed(
        sender, account, sender_account=own, alone=state.fanout.single_node
    )
    # Copies for the sender's own other devices go to its own address; the sending
    # device itself is never a recipient.
    by_device = {d.device_id: d for d in account.devices if d.pk != sender.pk}
    own_devices = {} if own is None else {d.device_id: d for d in own.devices if d.pk != sender.pk}
    named = [e.device_id for e in body.envelopes]
    own_named = [e.device_id for e in body.own_envelopes]
    named_set, own_named_set = set(named), set(own_named)
    if len(named_set) != len(named) or len(own_named_set) != len(own_named):
        raise Problem(400, "duplicate-envelope", "two envelopes name the same device")
    if own is None and own_named:
        raise Problem(400, "duplicate-envelope", "a message to yourself has no own_envelopes")
    # Every device named once, and no other: the usual case, told by two comparisons.
    if named_set != by_device.keys() or own_named_set != own_devices.keys():
        missing, extra = device_difference(by_device, named)
        own_missing, own_extra = device_difference(own_devices, own_named)
        # A retry is answered as one even if the recipient's devices changed since
        # the first attempt was stored: the stored copies stand, and re-sending to
        # the new device set is a new message with a new id. (On the way that
        # stores, ``enqueue`` itself answers a retry: no read of its own.)
        if await state.repo.sent_before(sender.pk, body.message_id):
            return SendResult(message_id=body.message_id, stored=0, duplicate=True)
        raise stale_devices(
            account.address, by_device, missing, extra, (own_devices, own_missing, own_extra)
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
        if await state.repo.sent_before(sender.pk, body.message_id):
            return SendResult(message_id=body.message_id, stored=0, duplicate=True)
        return SendResult(message_id=body.message_id, stored=dropped, duplicate=False)
    stored = await queue_copies(
        state,
        keys,
        envelopes,
        commitment=body.commitment,
        recipients=(account,) if own is None else (account, own),
        sender=sender,
        message_id=body.message_id,
        enqueue=enqueue,
    )
    if stored is None:
        return SendResult(message_id=body.message_id, stored=0, duplicate=True)
    return SendResult(message_id=body.message_id, stored=dropped + len(stored), duplicate=False)


def check_envelope_count(count: int, most: int) -> None:
    if count > most:
        raise Problem(413, "too-many-envelopes", f"a message carries at most {most} envelopes")


def device_difference(
    devices: Mapping[int, object], named: list[int]
) -> tuple[list[int], list[int]]:
    """The devices a send left out and those it named that the account lacks."""
    return sorted(devices.keys() - set(named)), sorted(set(named) - devices.keys())


def stale_devices(
    address: str,
    devices: Collection[int],
    missing: list[int],
    extra: list[int],
    own: tuple[Collection[int], list[int], list[int]] | None = None,
) -> Problem:
    """409 ``stale-devices`` (docs/api.md): the recipient's device ids and what the
    send left out or named in excess; with ``own``, the same of the sender's other
    devices (ids, missing, extra), for an unsealed send."""
    if own is None:
        return Problem(
            409,
            "stale-devices",
            f"{address} has devices {sorted(devices)}",
            missing=missing,
            extra=extra,
        )
    own_devices, own_missing, own_extra = own
    return Problem(
        409,
        "stale-devices",
        f"{address} has devices {sorted(devices)}, "
        f"and your other devices are {sorted(own_devices)}",
        missing=missing,
        extra=extra,
        own_missing=own_missing,
        own_extra=own_extra,
    )


async def devices_removed(
    state: ServerState, recipients: tuple[AccountRecord, ...], sender: DeviceRecord | None
) -> Problem:
    """The answer to a send whose check passed against ``recipients`` but a device of
    which was removed before its copies were stored (the storage's
    :class:`RecipientGone`): 409 ``stale-devices`` with what changed since, read
    again from the database itself, which refused the copies (no kept copy,
    storage.kept_reads)."""
    now = await state.repo.accounts(*((a.app, a.handle) for a in recipients))
    sender_pk = None if sender is None else sender.pk
    changes = []
    for before, after in zip(recipients, now, strict=True):
        if after is None:
            return Problem(404, "unknown-account", f"{before.address} does not exist")
        changes.append(_device_changes(before, after, sender_pk))
    if sender is None:
        return stale_devices(recipients[0].address, *changes[0])
    own = changes[1] if len(changes) > 1 else ([], [], [])
    return stale_devices(recipients[0].address, *changes[0], own)


def _device_changes(
    before: AccountRecord, after: AccountRecord, sender_pk: int | None
) -> tuple[list[int], list[int], list[int]]:
    """The account's device ids now, those added and those removed since ``before``
    was read, the sending device aside. Compared by row: a device linked again
    under an id that was removed is a new device, removed and added."""
    held = {d.pk: d.device_id for d in before.devices if d.pk != sender_pk}
    current = {d.pk: d.device_id for d in after.devices if d.pk != sender_pk}
    return (
        sorted(current.values()),
        sorted(i for pk, i in current.items() if pk not in held),
        sorted(i for pk, i in held.items() if pk not in current),
    )


async def queue_copies(
    state: ServerState,
    keys: DeliveryKeys,
    envelopes: list[Envelope],
    *,
    commitment: str | None,
    recipients: tuple[AccountRecord, ...],
    sender: DeviceRecord | None,
    message_id: str,
    enqueue: Enqueuing | None = None,
) -> list[QueuedMessage] | None:
    """Frank every copy (``server.franking``), store them in one transaction
    (``enqueue``, by default ``Repository.enqueue_one``) and hand them to the
    recipient devices' live connections (``server.live``); ``None`` for a retry of
    copies still queued (their devices' streams woken to read them), 409
    ``stale-devices`` if a recipient device was removed after the check (nothing
    stored). ``recipients`` are the accounts the copies go to, the addressed one
    first; ``sender`` is ``None`` for a sealed send."""
    server_ts = now_ms()
    envelopes = frank(
        keys.franking_key,
        commitment,
        envelopes,
        recipients=recipients,
        sender=sender,
        message_id=message_id,
        server_ts=server_ts,
    )
    send = enqueue_request(
        sender=sender,
        message_id=message_id,
        envelopes=envelopes,
        server_ts=server_ts,
        max_queue_depth=state.settings.limits.max_queue_depth,
    )
    started = time.perf_counter()
    try:
        stored = await (enqueue or state.repo.enqueue_one)(send)
    except QueueFull as exc:
        raise Problem(
            429,
            "queue-full",
            f"{recipients[0].address} has too many undelivered messages; retry later",
        ) from exc
    except RecipientGone as exc:
        raise await devices_removed(state, recipients, sender) from exc
    metrics.SEND_SECONDS.observe(time.perf_counter() - started)
    if stored is None:
        # The copies are queued already; the attempt that stored them may not
        # have woken anyone (its node stopped after the commit): wake them now.
        await state.live.wake(state.fanout, {e.recipient_device_pk for e in envelopes})
        return None
    metrics.ACCEPTED.inc(len(stored))
    await state.live.deliver(state.fanout, stored)
    return stored
