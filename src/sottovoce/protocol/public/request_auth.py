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
_REQUIRED = frozenset({"address", "device", "timestamp", "nonce", "signature"})
# docs/api.md "Names": handle@app. The signed message joins fields with "\n", so
# only this alphabet may appear in the address a signature covers.
_ADDRESS = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}@[a-z][a-z0-9-]{0,31}")
# Device ids are u32 (protocol.public.device_list); timestamps are milliseconds
# since the epoch, 13 digits until the year 2286. Only canonical decimal forms are
# accepted, so the header says exactly what ``signing_message`` renders.
_DEVICE = re.compile(r"[1-9][0-9]{0,9}")
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,15}")
MAX_DEVICE_ID = 2**32 - 1


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
    missing = _REQUIRED - fields.keys()
    if missing:
        raise DecodeError(f"authorization header lacks {', '.join(sorted(missing))}")
    unknown = fields.keys() - _REQUIRED
    if unknown:
        raise DecodeError(f"authorization header has unknown field {sorted(unknown)[0]}")
    if not _ADDRESS.fullmatch(fields["address"]):
        raise DecodeError("authorization address is not handle@app")
    if not _DEVICE.fullmatch(fields["device"]) or int(fields["device"]) > MAX_DEVICE_ID:
        raise DecodeError(f"authorization device must be an integer from 1 to {MAX_DEVICE_ID}")
    if not _TIMESTAMP.fullmatch(fields["timestamp"]):
        raise DecodeError("authorization timestamp must be milliseconds as a decimal integer")
    nonce = _b64_field(fields["nonce"], "nonce")
    signature = _b64_field(fields["signature"], "signature")
    if len(nonce) != NONCE_LEN:
        raise DecodeError(f"authorization nonce must be {NONCE_LEN} bytes, got {len(nonce)}")
    if len(signature) != signing.SIGNATURE_LEN:
        raise DecodeError(
            f"authorization signature must be {signing.SIGNATURE_LEN} bytes, got {len(signature)}"
        )
    return ParsedAuthorization(
        fields["address"],
        int(fields["device"]),
        int(fields["timestamp"]),
        fields["nonce"],
        signature,
    )


def _b64_field(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"authorization {name} is not base64") from exc


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
