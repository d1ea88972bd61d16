"""Base64 fields of JSON bodies, decoded with errors that name the field."""

from __future__ import annotations

import base64
import binascii

from sottovoce.server.problems import Problem


def b64decode(value: str, field: str, *, max_len: int | None = None) -> bytes:
    # Refuse an oversized field before decoding it: base64 is 4 characters per 3 bytes.
    if max_len is not None and len(value) > 4 * ((max_len + 2) // 3):
        raise Problem(413, "field-too-large", f"{field} exceeds {max_len} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Problem(400, "malformed-body", f"{field} is not valid base64") from exc
    if max_len is not None and len(data) > max_len:
        raise Problem(413, "field-too-large", f"{field} exceeds {max_len} bytes")
    return data


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()
