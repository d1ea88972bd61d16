"""A parsed request → a verified one, or the one reason it is refused.

The checks run in a fixed order (docs/legal.md "Verification"): the issuer's
signature and standing, its jurisdiction and agreement, then the judicial
countersignature, validity dates, what is asked for, and last the request id, so
that only a request that passed every other check can use up its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.legal import (
    ROLE_ISSUER,
    ROLE_JUDICIAL,
    verify_request_signature,
)
from sottovoce.server import limits
from sottovoce.server.legal.authorities import ISSUER_KINDS, JUDICIAL_KINDS, AuthorityKind
from sottovoce.server.legal.compellability import (
    NEEDS_JUDICIAL_AUTHORIZATION,
    Category,
    ProcessType,
    compellable,
)
from sottovoce.server.legal.documents import RequestDocument, Signature
from sottovoce.server.legal.errors import Rejected, RejectionReason
from sottovoce.server.legal.policy import Agreement, LegalPolicy
from sottovoce.storage.legal import AuthorityRow, LegalStore

SKEW = timedelta(seconds=limits.LEGAL_CLOCK_SKEW_S)


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A request every check accepted; only this is ever answered."""

    document: RequestDocument
    issuer: AuthorityRow
    judicial: AuthorityRow | None
    agreement: Agreement | None
    compellable: frozenset[Category]


def _day_number(moment: datetime) -> int:
    return int(moment.timestamp() // 86_400)


def _signature(document: RequestDocument, role: str) -> Signature | None:
    return next((s for s in document.signatures if s.role == role), None)


async def _signer(
    store: LegalStore, document: RequestDocument, signature: Signature, now: datetime
) -> AuthorityRow:
    """The registered, unrevoked authority whose valid signature this is."""
    authority = await store.authority(signature.authority_id)
    if authority is None:
        raise Rejected(
            RejectionReason.UNKNOWN_AUTHORITY,
            f"{signature.authority_id!r} is not a registered authority",
        )
    if authority.revoked_day is not None and authority.revoked_day <= _day_number(now):
        raise Rejected(
            RejectionReason.REVOKED_AUTHORITY, f"the authority {authority.id!r} was revoked"
        )
    try:
        verify_request_signature(
            document.request,
            signature.role,
            authority.id,
            authority.public_key,
            signature.signature,
        )
    except ProtocolError as exc:
        raise Rejected(RejectionReason.BAD_SIGNATURE, str(exc)) from exc
    return authority


def _agreement(
    document: RequestDocument, issuer: AuthorityRow, policy: LegalPolicy
) -> Agreement | None:
    """The agreement a foreign order is made under; None for domestic process."""
    if document.process_type is not ProcessType.FOREIGN_ORDER:
        if document.agreement is not None:
            raise Rejected(
                RejectionReason.OUTSIDE_AGREEMENT,
                "only a foreign order is made under an agreement; domestic process names none",
            )
        if issuer.country not in policy.home_jurisdictions:
            raise Rejected(
                RejectionReason.OUTSIDE_JURISDICTION,
                f"an authority of {issuer.country} can only send foreign orders under an "
                "agreement; the operator answers domestic process from "
                + ", ".join(sorted(policy.home_jurisdictions)),
            )
        return None
    if document.agreement is None:
        raise Rejected(
            RejectionReason.OUTSIDE_AGREEMENT, "a foreign order must name the agreement it uses"
        )
    agreement = policy.agreement(document.agreement)
    if agreement is None:
        raise Rejected(
            RejectionReason.OUTSIDE_AGREEMENT,
            f"the operator is party to no agreement {document.agreement!r}",
        )
    if issuer.country not in agreement.parties:
        raise Rejected(
            RejectionReason.OUTSIDE_JURISDICTION,
            f"{issuer.country} is not a party to the agreement {agreement.id!r}",
        )
    if agreement.id not in issuer.agreements:
        raise Rejected(
            RejectionReason.OUTSIDE_AGREEMENT,
            f"the authority {issuer.id!r} is not registered as acting under {agreement.id!r}",
        )
    return agreement


async def _judicial(
    store: LegalStore, document: RequestDocument, issuer: AuthorityRow, now: datetime
) -> AuthorityRow | None:
    signature = _signature(document, ROLE_JUDICIAL)
    needed = document.process_type in NEEDS_JUDICIAL_AUTHORIZATION
    if signature is None:
        if needed:
            raise Rejected(
                RejectionReason.MISSING_JUDICIAL_COUNTERSIGNATURE,
                f"a {document.process_type} needs the countersignature of a court or "
                "independent reviewing authority",
            )
        return None
    judicial = await _signer(store, document, signature, now)
    if judicial.id == issuer.id:
        raise Rejected(
            RejectionReason.MISSING_JUDICIAL_COUNTERSIGNATURE,
            "the countersignature must come from another authority than the issuer",
        )
    if AuthorityKind(judicial.kind) not in JUDICIAL_KINDS:
        raise Rejected(
            RejectionReason.MISSING_JUDICIAL_COUNTERSIGNATURE,
            f"{judicial.id!r} is a {judicial.kind}, not a court or independent reviewer",
        )
    if judicial.country != issuer.country:
        raise Rejected(
            RejectionReason.OUTSIDE_JURISDICTION,
            f"a {judicial.country} authority cannot authorize process of {issuer.country}",
        )
    return judicial


async def verify(
    document: RequestDocument, store: LegalStore, policy: LegalPolicy, now: datetime
) -> VerifiedRequest:
    """Every check of docs/legal.md; :class:`Rejected` names the first that fails."""
    issuer_signature = _signature(document, ROLE_ISSUER)
    if issuer_signature is None:
        raise Rejected(RejectionReason.MISSING_SIGNATURE, "the request has no issuer signature")
    if issuer_signature.authority_id != document.issuing_authority:
        raise Rejected(
            RejectionReason.BAD_SIGNATURE,
            "the issuer signature is not by the request's issuing_authority",
        )
    issuer = await _signer(store, document, issuer_signature, now)
    if AuthorityKind(issuer.kind) not in ISSUER_KINDS[document.process_type]:
        raise Rejected(
            RejectionReason.AUTHORITY_KIND,
            f"a {issuer.kind} authority cannot issue a {document.process_type}",
        )
    agreement = _agreement(document, issuer, policy)
    judicial = await _judicial(store, document, issuer, now)

    if now + SKEW < document.issued_at:
        raise Rejected(RejectionReason.NOT_YET_VALID, "the request is issued in the future")
    if now >= document.expires_at:
        raise Rejected(RejectionReason.EXPIRED, "the request expired")

    allowed = compellable(document.process_type, agreement.categories if agreement else frozenset())
    refused = [c.value for c in document.categories if c not in allowed]
    if refused:
        raise Rejected(
            RejectionReason.NOT_COMPELLABLE,
            f"a {document.process_type} cannot compel {', '.join(refused)}",
        )
    if document.process_type is ProcessType.EMERGENCY and not document.emergency_justification:
        raise Rejected(
            RejectionReason.MISSING_EMERGENCY_JUSTIFICATION,
            "an emergency request must say what danger of death or serious injury it averts",
        )
    if agreement is not None:
        for index, name in enumerate(document.accounts):
            facts = await store.account_facts(name.app, name.handle)
            why = agreement.exclude.excludes(
                name.app, name.handle, facts.is_minor if facts else False
            )
            if why is not None:
                raise Rejected(RejectionReason.EXCLUDED_BY_AGREEMENT, f"accounts[{index}]: {why}")

    if not await store.remember_request(
        document.request_id, issuer.id, document.process_type.value, int(now.timestamp() * 1000)
    ):
        raise Rejected(
            RejectionReason.REPLAYED, f"the request id {document.request_id!r} was already used"
        )
    return VerifiedRequest(document, issuer, judicial, agreement, allowed)
