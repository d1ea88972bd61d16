"""Why a legal request is refused: one reason per check, each with its HTTP status."""

from __future__ import annotations

from enum import StrEnum


class RejectionReason(StrEnum):
    # The bytes are not a well-formed request document.
    TOO_LARGE = "too-large"
    NOT_JSON = "not-json"
    TOO_DEEPLY_NESTED = "too-deeply-nested"
    UNSUPPORTED_FORMAT = "unsupported-format"
    MALFORMED = "malformed"
    # Who signed it.
    MISSING_SIGNATURE = "missing-signature"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_AUTHORITY = "unknown-authority"
    REVOKED_AUTHORITY = "revoked-authority"
    AUTHORITY_KIND = "authority-kind-not-allowed"
    OUTSIDE_JURISDICTION = "outside-jurisdiction"
    OUTSIDE_AGREEMENT = "outside-agreement"
    MISSING_JUDICIAL_COUNTERSIGNATURE = "missing-judicial-countersignature"
    # When.
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    REPLAYED = "replayed-request-id"
    # What it asks for.
    NO_SPECIFIC_ACCOUNT = "no-specific-account"
    WILDCARD_ACCOUNT = "wildcard-account"
    TOO_MANY_ACCOUNTS = "too-many-accounts"
    NOT_COMPELLABLE = "category-not-compellable"
    MISSING_EMERGENCY_JUSTIFICATION = "missing-emergency-justification"
    EXCLUDED_BY_AGREEMENT = "account-excluded-by-agreement"


STATUS: dict[RejectionReason, int] = {
    RejectionReason.TOO_LARGE: 413,
    RejectionReason.NOT_JSON: 400,
    RejectionReason.TOO_DEEPLY_NESTED: 400,
    RejectionReason.UNSUPPORTED_FORMAT: 400,
    RejectionReason.MALFORMED: 400,
    RejectionReason.MISSING_SIGNATURE: 401,
    RejectionReason.BAD_SIGNATURE: 401,
    RejectionReason.UNKNOWN_AUTHORITY: 403,
    RejectionReason.REVOKED_AUTHORITY: 403,
    RejectionReason.AUTHORITY_KIND: 403,
    RejectionReason.OUTSIDE_JURISDICTION: 403,
    RejectionReason.OUTSIDE_AGREEMENT: 403,
    RejectionReason.MISSING_JUDICIAL_COUNTERSIGNATURE: 403,
    RejectionReason.EXPIRED: 422,
    RejectionReason.NOT_YET_VALID: 422,
    RejectionReason.REPLAYED: 409,
    RejectionReason.NO_SPECIFIC_ACCOUNT: 422,
    RejectionReason.WILDCARD_ACCOUNT: 422,
    RejectionReason.TOO_MANY_ACCOUNTS: 422,
    RejectionReason.NOT_COMPELLABLE: 422,
    RejectionReason.MISSING_EMERGENCY_JUSTIFICATION: 422,
    RejectionReason.EXCLUDED_BY_AGREEMENT: 403,
}


MAX_DETAIL_LEN = 300


class Rejected(Exception):
    """A legal request refused for ``reason``; ``detail`` says what exactly was wrong
    (it names fields and authorities, never account data)."""

    def __init__(self, reason: RejectionReason, detail: str) -> None:
        # A detail may quote names the document chose (unknown field names): kept
        # short, so junk cannot grow the audit chain or the answer.
        if len(detail) > MAX_DETAIL_LEN:
            detail = detail[: MAX_DETAIL_LEN - 1] + "…"
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def status(self) -> int:
        return STATUS[self.reason]


class LegalConfigError(Exception):
    """The operator's legal policy file or signing key is unusable."""
