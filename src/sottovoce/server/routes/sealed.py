"""Sealed sender: certificates, unidentified-access keys and sealed sends (docs/api.md).

A sealed send is the one request that carries no device signature, so the server
cannot tell who made it. It is authorised instead by the recipient's
unidentified-access key, which only the recipient's contacts can derive; the
server compares its SHA-256 digest in constant time. The queued rows of a
sealed message name no sender in any column, and nothing here logs.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field

from sottovoce.crypto import hashing
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.sender_certificate import SenderCertificate
from sottovoce.protocol.public.unidentified_access import ACCESS_KEY_LEN, access_key_digest
from sottovoce.server import limits
from sottovoce.server.auth import now_ms, split_address
from sottovoce.server.delivery_keys import DeliveryKeys, delivery_keys
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.problems import Problem
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.sending import (
    SendResult,
    check_envelope_count,
    device_difference,
    queue_copies,
    stale_devices,
)
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage import unidentified_access
from sottovoce.storage.repository import (
    AccountRecord,
    DeviceRecord,
    Envelope,
)

router = APIRouter()


class ServerKey(BaseModel):
    key_id: int
    public: str


class Certificate(BaseModel):
    certificate: str
    expires_ms: int


class AccessKey(BaseModel):
    access_key: str = Field(max_length=64, description="base64 of the 16-byte access key")


class AccessKeySet(BaseModel):
    enabled: bool


class SealedEnvelopeIn(BaseModel):
    device_id: int = Field(ge=1, le=limits.MAX_DEVICE_ID)
    type: Literal["sealed"]
    body: str = Field(min_length=1)


class SendSealed(BaseModel):
    message_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", max_length=limits.MAX_MESSAGE_ID_LEN)
    recipient: str = Field(max_length=80)
    commitment: str = Field(max_length=64)
    envelopes: list[SealedEnvelopeIn] = Field(min_length=1)


@router.get("/v1/certificates/server-key", response_model=ServerKey)
async def server_key(keys: DeliveryKeys = Depends(delivery_keys)) -> ServerKey:
    """The key that signs sender certificates; clients pin it on first use."""
    return ServerKey(key_id=keys.certificate_key_id, public=b64encode(keys.certificate_key.public))


@router.get("/v1/certificates/sender", response_model=Certificate)
async def sender_certificate(
    device: DeviceRecord = Depends(authenticated_device),
    keys: DeliveryKeys = Depends(delivery_keys),
) -> Certificate:
    """A fresh certificate for the authenticated device, valid for a day."""
    expires_ms = now_ms() + limits.SENDER_CERTIFICATE_LIFETIME_MS
    certificate = SenderCertificate.issue(
        keys.certificate_key,
        keys.certificate_key_id,
        address=device.address,
        device_id=device.device_id,
        identity=PublicIdentity.from_bytes(device.identity),
        expires_ms=expires_ms,
    )
    return Certificate(certificate=b64encode(certificate.encoded), expires_ms=expires_ms)


@router.put("/v1/accounts/self/unidentified-access", response_model=AccessKeySet)
async def set_access_key(
    body: AccessKey,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> AccessKeySet:
    """Any device of an account sets its access key (after a new profile key)."""
    key = b64decode(body.access_key, "access_key", max_len=ACCESS_KEY_LEN)
    if len(key) != ACCESS_KEY_LEN:
        raise Problem(400, "bad-access-key", f"access_key must be {ACCESS_KEY_LEN} bytes")
    await unidentified_access.set_digest(
        state.repo.engine, device.account_id, access_key_digest(key)
    )
    return AccessKeySet(enabled=True)


async def _authorised_recipient(
    state: ServerState, address: str, header: str | None
) -> AccountRecord:
    """The recipient, if the access key is its own. Every failure is the same 401,
    so a sealed request cannot probe which accounts exist or accept sealed mail."""
    refused = Problem(
        401, "bad-access-key", "sealed sending needs the recipient's unidentified-access key"
    )
    if not header or len(header) > 4 * ((ACCESS_KEY_LEN + 2) // 3):
        raise refused
    try:
        key = b64decode(header, "Unidentified-Access-Key", max_len=ACCESS_KEY_LEN)
        app, handle = split_address(address)
    except Problem as exc:
        raise refused from exc
    account = await state.repo.account(app, handle)
    digest = (
        None
        if account is None
        else await unidentified_access.digest_of(state.repo.engine, account.id)
    )
    # Compared even when there is nothing to compare with, so timing says nothing.
    matches = hashing.constant_time_equal(access_key_digest(key), digest or bytes(32))
    if account is None or digest is None or not matches:
        raise refused
    return account


@router.post("/v1/messages/sealed", response_model=SendResult)
async def send_sealed(
    body: SendSealed,
    unidentified_access_key: str | None = Header(default=None),
    state: ServerState = Depends(server_state),
    keys: DeliveryKeys = Depends(delivery_keys),
) -> SendResult:
    account = await _authorised_recipient(state, body.recipient, unidentified_access_key)
    if not await state.sealed_recipients.admit(account.id):
        raise Problem(429, "rate-limited", "too many sealed messages to this account; slow down")
    lim = state.settings.limits
    check_envelope_count(len(body.envelopes), lim.max_envelopes_per_message)
    by_device = {d.device_id: d for d in account.devices}
    named = [e.device_id for e in body.envelopes]
    if len(set(named)) != len(named):
        raise Problem(400, "duplicate-envelope", "two envelopes name the same device")
    missing, extra = device_difference(by_device, named)
    if missing or extra:
        raise stale_devices(account.address, by_device, missing, extra)
    envelopes = [
        Envelope(
            by_device[e.device_id].pk,
            "sealed",
            b64decode(e.body, f"envelopes[{i}].body", max_len=lim.max_envelope_bytes),
        )
        for i, e in enumerate(body.envelopes)
    ]
    stored = await queue_copies(
        state,
        keys,
        envelopes,
        commitment=body.commitment,
        recipients=(account,),
        sender=None,
        message_id=body.message_id,
    )
    if stored is None:
        return SendResult(message_id=body.message_id, stored=0, duplicate=True)
    return SendResult(message_id=body.message_id, stored=len(stored), duplicate=False)
