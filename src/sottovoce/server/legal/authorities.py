"""Authorities the operator answers: who may issue which process, and who authorizes it."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum

from sottovoce.crypto import signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.server.legal.compellability import ProcessType
from sottovoce.server.legal.documents import AGREEMENT_ID, AUTHORITY_ID
from sottovoce.server.legal.policy import COUNTRY
from sottovoce.storage.legal import AuthorityRow

MAX_NAME_LEN = 200


class AuthorityKind(StrEnum):
    COURT = "court"
    LAW_ENFORCEMENT = "law-enforcement"
    EMERGENCY_SERVICE = "emergency-service"
    # A body independent of the issuer that authorizes orders where no court does
    # (e.g. the UK's Investigatory Powers Commissioner for the US–UK agreement).
    INDEPENDENT_REVIEWER = "independent-reviewer"


# Who may countersign process that needs judicial authorization.
JUDICIAL_KINDS = frozenset({AuthorityKind.COURT, AuthorityKind.INDEPENDENT_REVIEWER})

# Who may issue each process.
ISSUER_KINDS: dict[ProcessType, frozenset[AuthorityKind]] = {
    ProcessType.SUBPOENA: frozenset({AuthorityKind.LAW_ENFORCEMENT, AuthorityKind.COURT}),
    ProcessType.COURT_ORDER: frozenset({AuthorityKind.LAW_ENFORCEMENT, AuthorityKind.COURT}),
    ProcessType.WARRANT: frozenset({AuthorityKind.LAW_ENFORCEMENT, AuthorityKind.COURT}),
    ProcessType.EMERGENCY: frozenset(
        {AuthorityKind.LAW_ENFORCEMENT, AuthorityKind.EMERGENCY_SERVICE}
    ),
    ProcessType.PRESERVATION: frozenset({AuthorityKind.LAW_ENFORCEMENT, AuthorityKind.COURT}),
    ProcessType.FOREIGN_ORDER: frozenset({AuthorityKind.LAW_ENFORCEMENT, AuthorityKind.COURT}),
}


def new_authority(
    *,
    authority_id: str,
    name: str,
    country: str,
    kind: str,
    public_key_b64: str,
    agreements: tuple[str, ...],
    day: int,
) -> AuthorityRow:
    """A validated authority record; ``ValueError`` names the bad field."""
    if not AUTHORITY_ID.fullmatch(authority_id):
        raise ValueError(f"authority id must match {AUTHORITY_ID.pattern}")
    if not name.strip() or len(name) > MAX_NAME_LEN:
        raise ValueError(f"name must be 1 to {MAX_NAME_LEN} characters")
    if not COUNTRY.fullmatch(country):
        raise ValueError("country must be an ISO 3166 alpha-2 code like US or GB")
    try:
        parsed_kind = AuthorityKind(kind)
    except ValueError:
        raise ValueError(
            f"kind must be one of {', '.join(k.value for k in AuthorityKind)}"
        ) from None
    try:
        public_key = base64.b64decode(public_key_b64, validate=True)
        signing.VerifyingKey(public_key)
    except (binascii.Error, ValueError, CryptoError):
        raise ValueError("public key must be a base64 Ed25519 public key (32 bytes)") from None
    for agreement in agreements:
        if not AGREEMENT_ID.fullmatch(agreement):
            raise ValueError(f"agreement id must match {AGREEMENT_ID.pattern}")
    return AuthorityRow(
        authority_id,
        name.strip(),
        country,
        parsed_kind.value,
        public_key,
        tuple(sorted(set(agreements))),
        day,
        None,
    )
