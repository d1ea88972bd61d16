"""TLS presentation-language codec as RFC 9420 uses it.

Integers are big-endian fixed width; variable-length vectors carry a QUIC-style
variable-length integer header (RFC 9420 §2.1.2, RFC 9000 §16) that must use the
shortest encoding and at most 30 bits of length.
"""

from __future__ import annotations

from sottovoce.mls.errors import DecodeError

# RFC 9420 §2.1.2: the 8-byte varint form (prefix 0b11) is invalid in MLS.
MAX_VARINT = (1 << 30) - 1


def encode_varint(value: int) -> bytes:
    if value < 0 or value > MAX_VARINT:
        raise ValueError("varint out of range")
    if value < 1 << 6:
        return bytes([value])
    if value < 1 << 14:
        return (value | 0x4000).to_bytes(2, "big")
    return (value | 0x80000000).to_bytes(4, "big")


def encode_vector(data: bytes) -> bytes:
    """``opaque data<V>``: varint length then the bytes."""
    return encode_varint(len(data)) + data


class Writer:
    """Accumulates an encoding; ``bytes(writer)`` returns it."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def uint8(self, value: int) -> Writer:
        self._parts.append(value.to_bytes(1, "big"))
        return self

    def uint16(self, value: int) -> Writer:
        self._parts.append(value.to_bytes(2, "big"))
        return self

    def uint32(self, value: int) -> Writer:
        self._parts.append(value.to_bytes(4, "big"))
        return self

    def uint64(self, value: int) -> Writer:
        self._parts.append(value.to_bytes(8, "big"))
        return self

    def raw(self, data: bytes) -> Writer:
        self._parts.append(data)
        return self

    def vector(self, data: bytes) -> Writer:
        self._parts.append(encode_varint(len(data)))
        self._parts.append(data)
        return self

    def __bytes__(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Reads a structure from bytes; every shortfall raises :class:`DecodeError`."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def raw(self, length: int, what: str = "bytes") -> bytes:
        if length < 0 or self._pos + length > len(self._data):
            raise DecodeError(f"truncated {what}: need {length} bytes, have {self.remaining}")
        out = bytes(self._data[self._pos : self._pos + length])
        self._pos += length
        return out

    def uint8(self, what: str = "uint8") -> int:
        return self.raw(1, what)[0]

    def uint16(self, what: str = "uint16") -> int:
        return int.from_bytes(self.raw(2, what), "big")

    def uint32(self, what: str = "uint32") -> int:
        return int.from_bytes(self.raw(4, what), "big")

    def uint64(self, what: str = "uint64") -> int:
        return int.from_bytes(self.raw(8, what), "big")

    def varint(self, what: str = "vector length") -> int:
        first = self.uint8(what)
        prefix = first >> 6
        if prefix == 0:
            return first
        if prefix == 1:
            value = ((first & 0x3F) << 8) | self.uint8(what)
            if value < 1 << 6:
                raise DecodeError(f"{what}: varint not minimally encoded")
            return value
        if prefix == 2:
            value = ((first & 0x3F) << 24) | int.from_bytes(self.raw(3, what), "big")
            if value < 1 << 14:
                raise DecodeError(f"{what}: varint not minimally encoded")
            return value
        raise DecodeError(f"{what}: 8-byte varint prefix is invalid in MLS (RFC 9420 §2.1.2)")

    def vector(self, what: str = "vector") -> bytes:
        return self.raw(self.varint(f"{what} length"), what)

    def sub_reader(self, what: str = "vector") -> Reader:
        """A reader over the body of a length-prefixed vector of structures."""
        return Reader(self.vector(what))

    def finish(self, what: str = "structure") -> None:
        if self.remaining:
            raise DecodeError(f"{what}: {self.remaining} trailing bytes")
