"""Notices from the operator: a legal request named this account (docs/legal.md).

The server cannot encrypt to a device, so a notice is not end-to-end encrypted:
it is a statement the operator signs with its legal key and queues on every
device of the account like any envelope, with type ``operator-notice``. The
device verifies the signature with the operator key, pinned on first use (as
contacts' identity keys are), checks that the notice names this account, and
shows it as a system notice from "operator", never as a message from a person.
A notice carries no content: which process, from which authority, which
categories were requested and disclosed.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.errors import MalformedResponse, SecurityError
from sottovoce.client.messages import ReceivedMessage
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.legal import verify_notice

OPERATOR_NOTICE_TYPE = "operator-notice"
OPERATOR_SENDER = "operator"
OPERATOR_KEY_PATH = "/v1/legal/operator-key"
_PINNED = "operator-key"
_NOTICES = "operator-notices"


def is_operator_notice(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("type") == OPERATOR_NOTICE_TYPE


async def _operator_key(store: Store, transport: Transport) -> bytes:
    pinned = store.get(_PINNED, "key")
    if pinned is not None:
        return pinned
    answer = await transport.request("GET", OPERATOR_KEY_PATH)
    try:
        key = base64.b64decode(sj.string(answer, "operator_key", "operator key"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedResponse("the operator key is not base64") from exc
    with store.transaction():
        store.put(_PINNED, "key", key)
    return key


def _text(notice: dict[str, Any]) -> str:
    requested = ", ".join(notice.get("categories_requested") or []) or "none"
    disclosed = ", ".join(notice.get("categories_disclosed") or []) or "nothing"
    return (
        f"Notice from the operator: a {notice.get('process_type')} from "
        f"{notice.get('authority')} ({notice.get('country')}), received "
        f"{notice.get('received_at')}, named your account. Requested: {requested}. "
        f"Disclosed: {disclosed}. {notice.get('statement', '')}"
    )


async def receive_operator_notice(
    store: Store, transport: Transport, address: str, raw: dict[str, Any]
) -> ReceivedMessage | None:
    """The notice in ``raw`` as a system message, or None if already shown. Raises
    :class:`SecurityError` for a notice that does not verify or is not for us."""
    body = sj.binary(raw, "body", "notice")
    key = await _operator_key(store, transport)
    try:
        notice = verify_notice(body, key).body
    except ProtocolError as exc:
        raise SecurityError(f"an operator notice does not verify: {exc}") from exc
    if notice.get("account") != address:
        raise SecurityError("an operator notice names another account")
    notice_id = str(notice.get("notice_id"))
    if store.get(_NOTICES, notice_id) is not None:
        return None
    with store.transaction():
        store.put(_NOTICES, notice_id, body)
    now = datetime.now(UTC)
    return ReceivedMessage(
        message_id=f"legal-notice-{notice_id}",
        sender=OPERATOR_SENDER,
        sender_device=0,
        text=_text(notice),
        sent_at=now,
        received_at=now,
    )
