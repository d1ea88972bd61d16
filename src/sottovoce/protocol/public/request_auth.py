"""Signed requests: how a device proves who it is without a password or bearer token.

Every request carries an ``Authorization: Sottovoce-Signature ...`` header (see
docs/api.md). The device's Ed25519 identity key signs the method, path, its own
address and device id, a timestamp, a fresh nonce and the SHA-256 of the body, so
the server (or anyone who captures traffic) can verify but never replay or forge.
Both sides live here so they cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from sottovoce.crypto import hashing, signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.errors import DecodeError, VerificationError

SCHEME = "Sottovoce-Signature"
_CONTEXT = b"Sottovoce request v1\n"
NONCE_LEN = 16
# The header carries five short fields; anything longer is not ours.
MAX_HEADER_LEN = 1024
_FIELD = re.compile(r'\s*([a-z]+)="([^"]*)"\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    address: str
    device_id: int
    timestamp_ms: int
    nonce_b64: str
    signature: bytes


def signing_message(
    method: str,
    path_with_query: str,
    address: str,
    device_id: int,
    timestamp_ms: int,
    nonce_b64: str,
    body: bytes,
) -> bytes:
    """The exact bytes a device signs for one request."""
    return (
        _CONTEXT
        + "\n".join(
            [
                method.upper(),
                path_with_query,
                address,
                str(device_id),
                str(timestamp_ms),
                nonce_b64,
                hashing.sha256(body).hex(),
            ]
        ).encode()
    )


def authorization_header(
    signing_key: signing.SigningKey,
    method: str,
    path_with_query: str,
    address: str,
    device_id: int,
    body: bytes,
    *,
    timestamp_ms: int,
    nonce_b64: str,
) -> str:
    """Build the header value a client sends."""
    message = signing_message(
        method, path_with_query, address, device_id, timestamp_ms, nonce_b64, body
    )
    signature = base64.b64encode(signing_key.sign(message)).decode()
    return (
        f'{SCHEME} address="{address}", device="{device_id}", '
        f'timestamp="{timestamp_ms}", nonce="{nonce_b64}", signature="{signature}"'
    )


def parse_authorization_header(value: str) -> ParsedAuthorization:
    """Parse the header; a malformed one raises :class:`DecodeError` naming the fault."""
    if len(value) > MAX_HEADER_LEN:
        raise DecodeError("authorization header is too long")
    if not value.startswith(SCHEME + " "):
        raise DecodeError(f"authorization scheme must be {SCHEME}")
    rest = value[len(SCHEME) + 1 :]
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _FIELD.match(rest, pos)
        if match is None:
            raise DecodeError("authorization header fields are malformed")
        name, field_value = match.group(1), match.group(2)
        if name in fields:
            raise DecodeError(f"authorization header repeats {name}")
        fields[name] = field_value
        pos = match.end()
    missing = {"address", "device", "timestamp", "nonce", "signature"} - fields.keys()
    if missing:
        raise DecodeError(f"authorization header lacks {', '.join(sorted(missing))}")
    try:
        device_id = int(fields["device"])
        timestamp_ms = int(fields["timestamp"])
    except ValueError as exc:
        raise DecodeError("authorization device and timestamp must be integers") from exc
    try:
        nonce = base64.b64decode(fields["nonce"], validate=True)
        signature = base64.b64decode(fields["signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("authorization nonce or signature is not base64") from exc
    if len(nonce) != NONCE_LEN:
        raise DecodeError(f"authorization nonce must be {NONCE_LEN} bytes")
    return ParsedAuthorization(
        fields["address"], device_id, timestamp_ms, fields["nonce"], signature
    )


def verify_request(
    auth: ParsedAuthorization,
    identity_sign_public: bytes,
    method: str,
    path_with_query: str,
    body: bytes,
) -> None:
    """Raise :class:`VerificationError` unless the device's key signed this request."""
    message = signing_message(
        method,
        path_with_query,
        auth.address,
        auth.device_id,
        auth.timestamp_ms,
        auth.nonce_b64,
        body,
    )
    try:
        signing.verify(identity_sign_public, auth.signature, message)
    except CryptoError as exc:
        raise VerificationError("request signature does not verify") from exc
