"""Verifying one revealed message of an abuse report (docs/safety.md).

The reporter reveals what its client kept of a delivered message: the content
it decoded, the franking key and sender certificate that came inside the
encryption, and the commitment, tag and delivery metadata that came outside it.
The server recomputes the commitment from the content and the tag from the
commitment and the delivery, with the reporter as the recipient. Success means
the server itself once delivered exactly this content to this reporter; it says
who sent it as follows:

- unsealed: the tag names the sender, who signed the send request — fully
  attributable;
- sealed: the tag names no sender; the committed certificate names one, signed
  by this server and valid when the message arrived. The commitment binds the
  certificate to the content, but the certificate is not secret to the sender's
  contacts, so this attribution is weaker (docs/safety.md explains by how much).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.franking import (
    COMMITMENT_LEN,
    Delivery,
    FrankingMismatch,
    check_commitment,
    check_tag,
)
from sottovoce.protocol.public.sender_certificate import SenderCertificate


@dataclass(frozen=True, slots=True)
class RevealedMessage:
    message_id: str
    sender: str | None
    sender_device: int | None
    recipient_device: int
    server_ts: int
    content: bytes = field(repr=False)
    franking_key: bytes = field(repr=False)
    commitment: bytes
    franking_tag: bytes
    sender_certificate: bytes | None
    group_id: bytes | None = None
    """The MLS group a group message was delivered in (``None``: one to one)."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who sent a verified message, and how the server knows."""

    sender: str
    sender_device: int
    sealed: bool


def verify_revealed(
    revealed: RevealedMessage,
    *,
    reporter: str,
    franking_key: bytes,
    certificate_key: bytes,
    certificate_key_id: int,
) -> Attribution:
    """Raise :class:`FrankingMismatch` with the reason (``commitment-mismatch``,
    ``tag-mismatch``, ``certificate-invalid``, ``malformed``) or return the sender."""
    sealed = revealed.sender_certificate is not None
    if sealed and revealed.group_id is not None:
        # Group messages are sent in signed requests, never sealed (docs/safety.md).
        raise FrankingMismatch("malformed", "a group message carries no sender certificate")
    if sealed == (revealed.sender is not None) or (revealed.sender is None) != (
        revealed.sender_device is None
    ):
        raise FrankingMismatch(
            "malformed", "a message names either its sender or a sender certificate, not both"
        )
    if len(revealed.commitment) != COMMITMENT_LEN:
        raise FrankingMismatch("malformed", f"a commitment is {COMMITMENT_LEN} bytes")
    certificate = revealed.sender_certificate or b""
    try:
        check_commitment(revealed.commitment, revealed.franking_key, revealed.content, certificate)
        check_tag(
            franking_key,
            revealed.franking_tag,
            revealed.commitment,
            Delivery(
                recipient=reporter,
                recipient_device=revealed.recipient_device,
                server_ts=revealed.server_ts,
                sender=revealed.sender,
                sender_device=revealed.sender_device,
                message_id=revealed.message_id,
                group_id=revealed.group_id,
            ),
        )
    except FrankingMismatch:
        raise
    except ProtocolError as exc:
        raise FrankingMismatch("malformed", str(exc)) from exc
    if revealed.sender is not None and revealed.sender_device is not None:
        return Attribution(revealed.sender, revealed.sender_device, sealed=False)
    try:
        parsed = SenderCertificate.from_bytes(certificate)
        parsed.verify(certificate_key, certificate_key_id, revealed.server_ts)
    except ProtocolError as exc:
        raise FrankingMismatch("certificate-invalid", str(exc)) from exc
    return Attribution(parsed.address, parsed.device_id, sealed=True)
