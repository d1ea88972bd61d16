"""Legal request documents as they arrive: bytes → a typed, still unverified request.

Parsing checks shape only (size, JSON, nesting, every field's type and form) and
names the first thing that is wrong. Nothing here trusts the document: a
:class:`RequestDocument` becomes a :class:`~sottovoce.server.legal.verification.
VerifiedRequest` only through verification, and only that is answered.

The document (docs/legal.md has an example)::

    {"format": "sottovoce-legal-request/1",
     "request": {"request_id", "process_type", "legal_basis", "issuing_authority",
                 "agreement", "issued_at", "expires_at", "accounts": [{"app", "handle"}],
                 "date_range": {"from", "to"}, "categories": [...],
                 "emergency_justification", "non_disclosure_until", "preserve_days"},
     "signatures": [{"role": "issuer" | "judicial", "authority", "signature"}]}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.public.legal import REQUEST_FORMAT, ROLES, unb64
from sottovoce.server import limits
from sottovoce.server.legal.compellability import Category, ProcessType
from sottovoce.server.legal.errors import Rejected, RejectionReason

REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
AUTHORITY_ID = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
AGREEMENT_ID = AUTHORITY_ID
# The same alphabets as account names on the server (routes.accounts, settings).
APP = re.compile(r"[a-z][a-z0-9-]{0,31}")
HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
# Characters that make a name a pattern rather than one account.
WILDCARD = re.compile(r"[*?%\[\]{}]|^\.\*$|^all$|^any$", re.IGNORECASE)
# RFC 3339 timestamps in UTC with whole seconds: one spelling per instant.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

_REQUIRED = frozenset(
    {
        "request_id",
        "process_type",
        "legal_basis",
        "issuing_authority",
        "issued_at",
        "expires_at",
        "accounts",
        "date_range",
        "categories",
    }
)
_OPTIONAL = frozenset(
    {"agreement", "emergency_justification", "non_disclosure_until", "preserve_days"}
)


@dataclass(frozen=True, slots=True)
class AccountName:
    app: str
    handle: str

    @property
    def address(self) -> str:
        return f"{self.handle}@{self.app}"


@dataclass(frozen=True, slots=True)
class Signature:
    role: str
    authority_id: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class RequestDocument:
    """A parsed legal request whose signatures are not checked yet."""

    request: Mapping[str, Any]  # exactly what the signatures cover
    signatures: tuple[Signature, ...]
    request_id: str
    process_type: ProcessType
    legal_basis: str
    issuing_authority: str
    agreement: str | None
    issued_at: datetime
    expires_at: datetime
    accounts: tuple[AccountName, ...]
    date_from: date
    date_to: date
    categories: tuple[Category, ...]
    emergency_justification: str | None
    non_disclosure_until: date | None
    preserve_days: int | None


def _malformed(detail: str) -> Rejected:
    return Rejected(RejectionReason.MALFORMED, detail)


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of JSON arrays and objects in ``data``, found without
    parsing it, so that a document nested thousands deep never reaches a recursive
    parser. Brackets inside strings do not count."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key would let a signer and a reader see different requests.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(data: bytes) -> Any:
    """Bytes → JSON value, refusing oversized, deep, non-UTF-8 or non-standard input."""
    if len(data) > limits.MAX_LEGAL_DOCUMENT_BYTES:
        raise Rejected(
            RejectionReason.TOO_LARGE,
            f"the document is {len(data)} bytes; at most {limits.MAX_LEGAL_DOCUMENT_BYTES}",
        )
    if not data.strip():
        raise Rejected(RejectionReason.NOT_JSON, "the document is empty")
    depth = nesting_depth(data)
    if depth > limits.MAX_LEGAL_DOCUMENT_DEPTH:
        raise Rejected(
            RejectionReason.TOO_DEEPLY_NESTED,
            f"the document nests {depth} levels; at most {limits.MAX_LEGAL_DOCUMENT_DEPTH}",
        )
    try:
        text = data.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except UnicodeDecodeError as exc:
        raise Rejected(RejectionReason.NOT_JSON, "the document is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise Rejected(RejectionReason.NOT_JSON, f"the document is not JSON: {exc}") from exc


def _string(obj: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None = None) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(f"{key} must be a non-empty string")
    if len(value) > limits.MAX_LEGAL_TEXT_LEN:
        raise _malformed(f"{key} is longer than {limits.MAX_LEGAL_TEXT_LEN} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise _malformed(f"{key} must match {pattern.pattern}")
    return value


def _optional_string(obj: Mapping[str, Any], key: str) -> str | None:
    if obj.get(key) is None:
        return None
    return _string(obj, key)


def _timestamp(obj: Mapping[str, Any], key: str) -> datetime:
    value = _string(obj, key)
    if not TIMESTAMP.fullmatch(value):
        raise _malformed(f"{key} must be an RFC 3339 UTC time like 2026-12-01T09:00:00Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise _malformed(f"{key} is not a real date and time") from exc


def _day(obj: Mapping[str, Any], key: str) -> date:
    value = _string(obj, key)
    if not DAY.fullmatch(value):
        raise _malformed(f"{key} must be a day like 2026-12-01")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _malformed(f"{key} is not a real day") from exc


def _accounts(value: Any) -> tuple[AccountName, ...]:
    if not isinstance(value, list):
        raise _malformed("accounts must be a list of {app, handle}")
    if not value:
        raise Rejected(
            RejectionReason.NO_SPECIFIC_ACCOUNT, "the request names no account; name each one"
        )
    if len(value) > limits.MAX_ACCOUNTS_PER_LEGAL_REQUEST:
        raise Rejected(
            RejectionReason.TOO_MANY_ACCOUNTS,
            f"the request names {len(value)} accounts; at most "
            f"{limits.MAX_ACCOUNTS_PER_LEGAL_REQUEST} (no bulk requests)",
        )
    names = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"app", "handle"}:
            raise _malformed(f"accounts[{index}] must be exactly {{app, handle}}")
        app, handle = item["app"], item["handle"]
        if not isinstance(app, str) or not isinstance(handle, str):
            raise _malformed(f"accounts[{index}] app and handle must be strings")
        if WILDCARD.search(app) or WILDCARD.search(handle) or not handle or not app:
            raise Rejected(
                RejectionReason.WILDCARD_ACCOUNT,
                f"accounts[{index}] is a pattern, not one account",
            )
        if not APP.fullmatch(app) or not HANDLE.fullmatch(handle):
            raise _malformed(f"accounts[{index}] is not a valid app and handle")
        names.append(AccountName(app, handle))
    if len(set(names)) != len(names):
        raise _malformed("accounts names one account twice")
    return tuple(names)


def _categories(value: Any) -> tuple[Category, ...]:
    if not isinstance(value, list) or not value:
        raise _malformed("categories must be a non-empty list")
    known = {c.value: c for c in Category}
    categories = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in known:
            raise _malformed(f"categories[{index}] is not one of {', '.join(sorted(known))}")
        categories.append(known[item])
    if len(set(categories)) != len(categories):
        raise _malformed("categories names one category twice")
    return tuple(categories)


def _signatures(value: Any) -> tuple[Signature, ...]:
    if not isinstance(value, list):
        raise _malformed("signatures must be a list")
    if len(value) > len(ROLES):
        raise _malformed(f"a request carries at most {len(ROLES)} signatures")
    signatures = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"role", "authority", "signature"}:
            raise _malformed(f"signatures[{index}] must be exactly {{role, authority, signature}}")
        role = item["role"]
        if role not in ROLES:
            raise _malformed(f"signatures[{index}].role must be one of {', '.join(ROLES)}")
        authority = _string(item, "authority", AUTHORITY_ID)
        try:
            signature = unb64(item["signature"], f"signatures[{index}].signature")
        except DecodeError as exc:
            raise _malformed(str(exc)) from exc
        signatures.append(Signature(role, authority, signature))
    if len({s.role for s in signatures}) != len(signatures):
        raise _malformed("signatures has two signatures of one role")
    return tuple(signatures)


def parse_document(data: bytes) -> RequestDocument:
    """Parse a legal request document; :class:`Rejected` names the first fault."""
    document = load_json(data)
    if not isinstance(document, dict):
        raise _malformed("the document is not a JSON object")
    if document.get("format") != REQUEST_FORMAT:
        raise Rejected(
            RejectionReason.UNSUPPORTED_FORMAT, f"the document's format is not {REQUEST_FORMAT}"
        )
    if set(document) != {"format", "request", "signatures"}:
        raise _malformed("the document must have exactly format, request and signatures")
    request = document["request"]
    if not isinstance(request, dict):
        raise _malformed("request is not a JSON object")
    missing = sorted(_REQUIRED - request.keys())
    if missing:
        raise _malformed(f"request lacks {', '.join(missing)}")
    extra = sorted(request.keys() - _REQUIRED - _OPTIONAL)
    if extra:
        raise _malformed(f"request has unknown fields {', '.join(extra)}")
    signatures = _signatures(document["signatures"])
    process_name = _string(request, "process_type")
    try:
        process = ProcessType(process_name)
    except ValueError as exc:
        names = ", ".join(p.value for p in ProcessType)
        raise _malformed(f"process_type must be one of {names}") from exc
    date_range = request["date_range"]
    if not isinstance(date_range, dict) or set(date_range) != {"from", "to"}:
        raise _malformed("date_range must be exactly {from, to}")
    date_from, date_to = _day(date_range, "from"), _day(date_range, "to")
    if date_from > date_to:
        raise _malformed("date_range ends before it starts")
    issued_at, expires_at = _timestamp(request, "issued_at"), _timestamp(request, "expires_at")
    if expires_at <= issued_at:
        raise _malformed("expires_at is not after issued_at")
    preserve_days = request.get("preserve_days")
    if preserve_days is not None and (
        not isinstance(preserve_days, int)
        or isinstance(preserve_days, bool)
        or not 1 <= preserve_days <= limits.MAX_PRESERVATION_DAYS
    ):
        raise _malformed(f"preserve_days must be 1 to {limits.MAX_PRESERVATION_DAYS}")
    if process is ProcessType.PRESERVATION and preserve_days is None:
        raise _malformed("a preservation request needs preserve_days")
    agreement = request.get("agreement")
    if agreement is not None:
        agreement = _string(request, "agreement", AGREEMENT_ID)
    return RequestDocument(
        request=request,
        signatures=signatures,
        request_id=_string(request, "request_id", REQUEST_ID),
        process_type=process,
        legal_basis=_string(request, "legal_basis"),
        issuing_authority=_string(request, "issuing_authority", AUTHORITY_ID),
        agreement=agreement,
        issued_at=issued_at,
        expires_at=expires_at,
        accounts=_accounts(request["accounts"]),
        date_from=date_from,
        date_to=date_to,
        categories=_categories(request["categories"]),
        emergency_justification=_optional_string(request, "emergency_justification"),
        non_disclosure_until=(
            None
            if request.get("non_disclosure_until") is None
            else _day(request, "non_disclosure_until")
        ),
        preserve_days=preserve_days,
    )
