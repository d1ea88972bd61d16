"""Bounds-checked reading of the protocol's fixed-layout binary structures.

Every integer is big-endian and fixed width; every field has a known length or an
explicit length prefix. A shortfall names the field that was cut off, and a
structure must be consumed exactly: trailing bytes are an error, not ignored.
"""

from __future__ import annotations

from sottovoce.protocol.errors import DecodeError


class Reader:
    """Reads one structure named ``what`` from ``data``; every failure is a DecodeError."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def fixed(self, length: int, field: str) -> bytes:
        end = self._pos + length
        if end > len(self._data):
            raise DecodeError(f"{self._what} is truncated in {field}")
        value = self._data[self._pos : end]
        self._pos = end
        return value

    def u8(self, field: str) -> int:
        if self._pos >= len(self._data):
            raise DecodeError(f"{self._what} is truncated in {field}")
        value = self._data[self._pos]
        self._pos += 1
        return value

    def u16(self, field: str) -> int:
        return int.from_bytes(self.fixed(2, field), "big")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.fixed(4, field), "big")

    def flag(self, field: str) -> bool:
        value = self.u8(field)
        if value > 1:
            raise DecodeError(f"{self._what} has {field} {value}, expected 0 or 1")
        return value == 1

    def rest(self) -> bytes:
        value = self._data[self._pos :]
        self._pos = len(self._data)
        return value

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise DecodeError(f"{self._what} has {len(self._data) - self._pos} trailing bytes")


def check_version(found: int, expected: int, what: str) -> None:
    if found != expected:
        raise DecodeError(f"unknown {what} version {found}, expected {expected}")
