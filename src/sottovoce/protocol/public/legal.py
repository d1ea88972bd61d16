"""Signed legal documents: what an authority signs, what the operator signs back.

Three kinds of statement travel between an authority, the operator and the
operator's users, each a JSON object signed with Ed25519 (RFC 8032) over its
canonical encoding:

- a **legal request**, signed by the issuing authority and, where the process
  needs judicial authorization, countersigned by a court or independent
  reviewing authority (``sign_request`` / ``request_signing_message``);
- a **disclosure package**, the operator's signed answer
  (``sign_package`` / ``verify_package``);
- an **operator notice**, telling an account's devices that a request named it
  once its non-disclosure period is over (``sign_notice`` / ``verify_notice``).

Canonical encoding is the RFC 8785 (JCS) serialization restricted to the values
these documents use: objects, arrays, strings, integers, booleans and null. No
floats are allowed (JCS §3.2.2.3 would need ECMAScript number formatting), and
keys are ASCII, so Python's code-point key order equals JCS's UTF-16 order
(§3.2.3). Each signature covers a context string naming the statement kind, so a
signature on one kind can never be replayed as another.

Both sides live here, so signer and verifier cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sottovoce.crypto import signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.errors import DecodeError, VerificationError

REQUEST_FORMAT = "sottovoce-legal-request/1"
PACKAGE_FORMAT = "sottovoce-disclosure/1"
NOTICE_FORMAT = "sottovoce-operator-notice/1"

_REQUEST_CONTEXT = b"Sottovoce legal request v1\n"
_PACKAGE_CONTEXT = b"Sottovoce disclosure package v1\n"
_NOTICE_CONTEXT = b"Sottovoce operator notice v1\n"

# Who signs a legal request: the agency that issues it, and the court or
# independent reviewing authority that authorizes it where the process needs one.
ROLE_ISSUER = "issuer"
ROLE_JUDICIAL = "judicial"
ROLES = (ROLE_ISSUER, ROLE_JUDICIAL)

# A package or notice is small (a package names at most a handful of accounts);
# anything larger handed to a verifier is not one of ours.
MAX_SIGNED_DOCUMENT_BYTES = 1024 * 1024


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialization of ``value`` (no floats; see the module docstring)."""
    _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise DecodeError("canonical JSON here carries no floating-point numbers")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DecodeError("canonical JSON object keys must be strings")
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise DecodeError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{what} is not valid base64") from exc


# -- legal requests ------------------------------------------------------------------


def request_signing_message(request: Mapping[str, Any], role: str, authority_id: str) -> bytes:
    """The bytes one signer of a legal request signs: its role, its id, the request."""
    if role not in ROLES:
        raise DecodeError(f"signature role must be one of {', '.join(ROLES)}")
    return (
        _REQUEST_CONTEXT
        + role.encode("ascii")
        + b"\n"
        + authority_id.encode("utf-8")
        + b"\n"
        + canonical_json(request)
    )


def sign_request(
    request: Mapping[str, Any], signers: Sequence[tuple[str, str, signing.SigningKey]]
) -> dict[str, Any]:
    """A legal request document signed by each ``(role, authority_id, key)``."""
    return {
        "format": REQUEST_FORMAT,
        "request": dict(request),
        "signatures": [
            {
                "role": role,
                "authority": authority_id,
                "signature": b64(key.sign(request_signing_message(request, role, authority_id))),
            }
            for role, authority_id, key in signers
        ],
    }


def verify_request_signature(
    request: Mapping[str, Any], role: str, authority_id: str, public_key: bytes, signature: bytes
) -> None:
    """Raise :class:`VerificationError` unless ``signature`` is this signer's."""
    try:
        signing.verify(public_key, signature, request_signing_message(request, role, authority_id))
    except CryptoError as exc:
        raise VerificationError(f"the {role} signature of {authority_id} does not verify") from exc


# -- operator statements (packages and notices) -----------------------------------------


@dataclass(frozen=True, slots=True)
class SignedStatement:
    """A verified operator statement: its body and the key that signed it."""

    body: dict[str, Any]
    operator_key: bytes


def _sign_statement(
    fmt: str, member: str, context: bytes, key: signing.SigningKey, body: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "format": fmt,
        member: dict(body),
        "operator_key": b64(key.public),
        "signature": b64(key.sign(context + canonical_json(body))),
    }


def _verify_statement(
    fmt: str, member: str, context: bytes, document: bytes, expected_key: bytes | None
) -> SignedStatement:
    if len(document) > MAX_SIGNED_DOCUMENT_BYTES:
        raise DecodeError(f"a signed {member} is at most {MAX_SIGNED_DOCUMENT_BYTES} bytes")
    try:
        parsed = json.loads(document)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DecodeError(f"the signed {member} is not JSON") from exc
    if not isinstance(parsed, dict):
        raise DecodeError(f"the signed {member} is not a JSON object")
    if parsed.get("format") != fmt:
        raise DecodeError(f"the document's format is not {fmt}")
    if set(parsed) != {"format", member, "operator_key", "signature"}:
        raise DecodeError(
            f"the signed {member} must have exactly format, {member}, operator_key, signature"
        )
    body = parsed[member]
    if not isinstance(body, dict):
        raise DecodeError(f"the {member} is not a JSON object")
    operator_key = unb64(parsed["operator_key"], "operator_key")
    signature = unb64(parsed["signature"], "signature")
    if expected_key is not None and operator_key != expected_key:
        raise VerificationError(f"the {member} is signed by another key than the operator's")
    try:
        signing.verify(operator_key, signature, context + canonical_json(body))
    except CryptoError as exc:
        raise VerificationError(
            f"the operator's signature on the {member} does not verify"
        ) from exc
    return SignedStatement(body, operator_key)


def sign_package(key: signing.SigningKey, package: Mapping[str, Any]) -> dict[str, Any]:
    return _sign_statement(PACKAGE_FORMAT, "package", _PACKAGE_CONTEXT, key, package)


def verify_package(document: bytes, expected_key: bytes | None = None) -> SignedStatement:
    """Parse and verify a signed disclosure package. With ``expected_key``, also
    require that it is the operator's key obtained some other way (pinned, or
    published by the operator), not only the key the document names."""
    return _verify_statement(PACKAGE_FORMAT, "package", _PACKAGE_CONTEXT, document, expected_key)


def sign_notice(key: signing.SigningKey, notice: Mapping[str, Any]) -> dict[str, Any]:
    return _sign_statement(NOTICE_FORMAT, "notice", _NOTICE_CONTEXT, key, notice)


def verify_notice(document: bytes, expected_key: bytes | None = None) -> SignedStatement:
    """Parse and verify an operator notice (see :func:`verify_package` on the key)."""
    return _verify_statement(NOTICE_FORMAT, "notice", _NOTICE_CONTEXT, document, expected_key)
