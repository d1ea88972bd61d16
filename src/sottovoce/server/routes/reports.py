"""``POST /v1/reports``: a recipient reveals messages; the server verifies, then stores.

Every revealed message must open its franking commitment and carry the tag this
server issued for its delivery to the reporter (``protocol.public.abuse_report``);
otherwise the whole report is refused with the reason, and nothing is stored. A
stored report is therefore proof that its content was delivered to the reporter
from the account it names (docs/safety.md says how strongly, for sealed messages).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from sottovoce.protocol.public.abuse_report import RevealedMessage, verify_revealed
from sottovoce.protocol.public.franking import FRANKING_KEY_LEN, TAG_LEN, FrankingMismatch
from sottovoce.protocol.public.sender_certificate import MAX_CERTIFICATE_LEN
from sottovoce.server import limits
from sottovoce.server.auth import now_ms, split_address, today
from sottovoce.server.delivery_keys import DeliveryKeys, delivery_keys
from sottovoce.server.encoding import b64decode
from sottovoce.server.franking import decode_commitment
from sottovoce.server.problems import Problem
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage import abuse_reports
from sottovoce.storage.abuse_reports import AlreadyReported, ReportedMessage
from sottovoce.storage.repository import DeviceRecord

router = APIRouter()


class ReportedMessageIn(BaseModel):
    message_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    sender: str | None = Field(default=None, max_length=80)
    sender_device: int | None = Field(default=None, ge=1, le=limits.MAX_DEVICE_ID)
    recipient_device: int = Field(ge=1, le=limits.MAX_DEVICE_ID)
    server_ts: int = Field(ge=0, le=2**63 - 1)
    content: str = Field(min_length=1)
    franking_key: str = Field(max_length=64)
    commitment: str = Field(max_length=64)
    franking_tag: str = Field(max_length=64)
    sender_certificate: str | None = Field(default=None, max_length=1024)
    # A group (MLS) message: the group it was delivered in, base64 (docs/safety.md).
    group_id: str | None = Field(
        default=None, max_length=4 * ((limits.MAX_GROUP_ID_BYTES + 2) // 3)
    )


class ReportIn(BaseModel):
    reason: str = Field(min_length=1, max_length=limits.MAX_REPORT_REASON_LEN)
    messages: list[ReportedMessageIn] = Field(
        min_length=1, max_length=limits.MAX_MESSAGES_PER_REPORT
    )


class ReportFiled(BaseModel):
    report_id: int
    reported: str
    verification: str


def _revealed(i: int, m: ReportedMessageIn) -> RevealedMessage:
    where = f"messages[{i}]"
    tag = b64decode(m.franking_tag, f"{where}.franking_tag", max_len=TAG_LEN)
    key = b64decode(m.franking_key, f"{where}.franking_key", max_len=FRANKING_KEY_LEN)
    if len(key) != FRANKING_KEY_LEN or len(tag) != TAG_LEN:
        raise Problem(400, "malformed-body", f"{where}: franking_key and franking_tag are 32 bytes")
    return RevealedMessage(
        message_id=m.message_id,
        sender=m.sender,
        sender_device=m.sender_device,
        recipient_device=m.recipient_device,
        server_ts=m.server_ts,
        content=b64decode(m.content, f"{where}.content", max_len=limits.MAX_REPORTED_CONTENT_BYTES),
        franking_key=key,
        commitment=decode_commitment(m.commitment),
        franking_tag=tag,
        sender_certificate=None
        if m.sender_certificate is None
        else b64decode(
            m.sender_certificate, f"{where}.sender_certificate", max_len=MAX_CERTIFICATE_LEN
        ),
        group_id=None if m.group_id is None else _group_id(m.group_id, where),
    )


def _group_id(value: str, where: str) -> bytes:
    group_id = b64decode(value, f"{where}.group_id", max_len=limits.MAX_GROUP_ID_BYTES)
    if not group_id:
        raise Problem(400, "malformed-body", f"{where}.group_id is empty")
    return group_id


@router.post("/v1/reports", status_code=201, response_model=ReportFiled)
async def file_report(
    body: ReportIn,
    reporter: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
    keys: DeliveryKeys = Depends(delivery_keys),
) -> ReportFiled:
    revealed = [_revealed(i, m) for i, m in enumerate(body.messages)]
    senders = set()
    sealed = False
    for i, message in enumerate(revealed):
        try:
            attribution = verify_revealed(
                message,
                reporter=reporter.address,
                franking_key=keys.franking_key,
                certificate_key=keys.certificate_key.public,
                certificate_key_id=keys.certificate_key_id,
            )
        except FrankingMismatch as exc:
            raise Problem(422, exc.reason, f"messages[{i}]: {exc}", index=i) from exc
        senders.add(attribution.sender)
        sealed = sealed or attribution.sealed
    if len(senders) != 1:
        raise Problem(400, "mixed-senders", "one report names messages from one sender only")
    (reported,) = senders
    app, handle = split_address(reported)
    account = await state.repo.account(app, handle)
    verification = (
        abuse_reports.BY_SENDER_CERTIFICATE if sealed else abuse_reports.BY_REQUEST_SIGNATURE
    )
    try:
        report_id = await abuse_reports.store_report(
            state.repo.engine,
            reporter_account_id=reporter.account_id,
            reporter=reporter.address,
            reported_account_id=None if account is None else account.id,
            reported=reported,
            reason=body.reason,
            verification=verification,
            day=today(),
            created_ms=now_ms(),
            messages=[
                ReportedMessage(
                    m.message_id,
                    m.sender,
                    m.sender_device,
                    m.recipient_device,
                    m.server_ts,
                    m.content,
                    m.sender_certificate,
                    m.commitment,
                    m.group_id,
                )
                for m in revealed
            ],
        )
    except AlreadyReported as exc:
        raise Problem(
            409, "already-reported", "one of these messages was already reported"
        ) from exc
    if account is not None:
        # Verified reports from distinct accounts may restrict or suspend (docs/safety.md).
        await state.safety.review_signals(account.id)
    return ReportFiled(report_id=report_id, reported=reported, verification=verification)
