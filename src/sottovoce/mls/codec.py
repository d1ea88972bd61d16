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


# The one-byte length headers of vectors shorter than 64 bytes, the common case
# (identifiers, keys, signatures), so encoding one costs a list index.
_SHORT_HEADERS = tuple(bytes((length,)) for length in range(1 << 6))


def encode_vector(data: bytes) -> bytes:
    """``opaque data<V>``: varint length then the bytes."""
    length = len(data)
    if length < 1 << 6:
        return _SHORT_HEADERS[length] + data
    return encode_varint(length) + data


class Writer:
    """Accumulates an encoding; ``bytes(writer)`` returns it."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def uint8(self, value: int) -> Writer:
        self._buf.append(value)
        return self

    def uint16(self, value: int) -> Writer:
        self._buf += value.to_bytes(2, "big")
        return self

    def uint32(self, value: int) -> Writer:
        self._buf += value.to_bytes(4, "big")
        return self

    def uint64(self, value: int) -> Writer:
        self._buf += value.to_bytes(8, "big")
        return self

    def raw(self, data: bytes) -> Writer:
        self._buf += data
        return self

    def vector(self, data: bytes) -> Writer:
        length = len(data)
        if length < 1 << 6:
            self._buf.append(length)
        else:
            self._buf += encode_varint(length)
        self._buf += data
        return self

    def __bytes__(self) -> bytes:
        return bytes(self._buf)


class Reader:
    """Reads a structure from bytes; every shortfall raises :class:`DecodeError`.

    Every message is decoded field by field through here, so the methods index the
    buffer directly and build error text only when there is an error.
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def raw(self, length: int, what: str = "bytes") -> bytes:
        pos = self._pos
        end = pos + length
        if length < 0 or end > len(self._data):
            raise DecodeError(f"truncated {what}: need {length} bytes, have {self.remaining}")
        self._pos = end
        return self._data[pos:end]

    def uint8(self, what: str = "uint8") -> int:
        pos = self._pos
        if pos >= len(self._data):
            raise DecodeError(f"truncated {what}: need 1 bytes, have 0")
        self._pos = pos + 1
        return self._data[pos]

    def uint16(self, what: str = "uint16") -> int:
        return self._uint(2, what)

    def uint32(self, what: str = "uint32") -> int:
        return self._uint(4, what)

    def uint64(self, what: str = "uint64") -> int:
        return self._uint(8, what)

    def _uint(self, size: int, what: str) -> int:
        data, pos = self._data, self._pos
        end = pos + size
        if end > len(data):
            raise DecodeError(f"truncated {what}: need {size} bytes, have {len(data) - pos}")
        self._pos = end
        return int.from_bytes(data[pos:end], "big")

    def varint(self, what: str = "vector length") -> int:
        return self._varint(what, "")

    def _varint(self, what: str, suffix: str) -> int:
        data, pos = self._data, self._pos
        if pos >= len(data):
            raise DecodeError(f"truncated {what}{suffix}: need 1 bytes, have 0")
        first = data[pos]
        prefix = first >> 6
        if prefix == 0:
            self._pos = pos + 1
            return first
        if prefix == 3:
            raise DecodeError(
                f"{what}{suffix}: 8-byte varint prefix is invalid in MLS (RFC 9420 §2.1.2)"
            )
        size = 2 if prefix == 1 else 4
        if pos + size > len(data):
            raise DecodeError(
                f"truncated {what}{suffix}: need {size} bytes, have {len(data) - pos}"
            )
        value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
        if value < (1 << 6 if size == 2 else 1 << 14):
            raise DecodeError(f"{what}{suffix}: varint not minimally encoded")
        self._pos = pos + size
        return value

    def vector(self, what: str = "vector") -> bytes:
        data, pos = self._data, self._pos
        if pos < len(data) and data[pos] < 0x40:
            # The one-byte length header of short vectors, read in place.
            length, start = data[pos], pos + 1
        else:
            length = self._varint(what, " length")
            start = self._pos
        end = start + length
        if end > len(data):
            raise DecodeError(f"truncated {what}: need {length} bytes, have {len(data) - start}")
        self._pos = end
        return data[start:end]

    def sub_reader(self, what: str = "vector") -> Reader:
        """A reader over the body of a length-prefixed vector of structures."""
        return Reader(self.vector(what))

    def finish(self, what: str = "structure") -> None:
        if self.remaining:
            raise DecodeError(f"{what}: {self.remaining} trailing bytes")
