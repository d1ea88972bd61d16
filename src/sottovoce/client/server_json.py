"""Reading the server's JSON answers into typed values.

The server is not trusted to be well-formed: every field is read through these
helpers, which raise :class:`MalformedResponse` naming the field instead of a
``KeyError`` or ``TypeError`` deep inside the SDK.
"""

from __future__ import annotations

import base64
import binascii

from sottovoce.client.errors import MalformedResponse


def b64(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as docs/api.md requires."""
    return base64.b64encode(data).decode()


def unb64(text: str, where: str = "value") -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedResponse(f"{where} is not standard base64") from exc


def as_object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise MalformedResponse(f"{where} is not a JSON object")
    return value


def as_list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise MalformedResponse(f"{where} is not a JSON array")
    return value


def field(obj: dict[str, object], name: str, where: str) -> object:
    if name not in obj:
        raise MalformedResponse(f"{where} lacks {name!r}")
    return obj[name]


def string(obj: dict[str, object], name: str, where: str) -> str:
    value = field(obj, name, where)
    if not isinstance(value, str):
        raise MalformedResponse(f"{where}.{name} is not a string")
    return value


def integer(obj: dict[str, object], name: str, where: str) -> int:
    value = field(obj, name, where)
    # bool is an int subclass in Python but never a valid count or id on the wire.
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedResponse(f"{where}.{name} is not an integer")
    return value


def optional_integer(obj: dict[str, object], name: str, where: str) -> int | None:
    return None if obj.get(name) is None else integer(obj, name, where)


def boolean(obj: dict[str, object], name: str, where: str) -> bool:
    value = field(obj, name, where)
    if not isinstance(value, bool):
        raise MalformedResponse(f"{where}.{name} is not a boolean")
    return value


def binary(obj: dict[str, object], name: str, where: str) -> bytes:
    return unb64(string(obj, name, where), f"{where}.{name}")


def child(obj: dict[str, object], name: str, where: str) -> dict[str, object]:
    return as_object(field(obj, name, where), f"{where}.{name}")
