"""The shared shape of every wire structure: ``encode`` into a Writer, ``decode`` from
a Reader, and the TLS presentation-language idioms RFC 9420 §2.1 builds on.

A structure decodes only from its canonical encoding (minimal varints, presence
bytes of 0 or 1, known enum values), so decoding then encoding gives back the very
bytes that were read: signatures computed over a re-encoded structure cover what
the sender signed.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Self, TypeVar, cast

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError

T = TypeVar("T")
E = TypeVar("E", bound=enum.IntEnum)


class Struct:
    """Mixin of every wire dataclass: ``bytes(x)`` encodes, ``from_bytes`` decodes exactly."""

    __slots__ = ()

    def encode(self, writer: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        writer = Writer()
        self.encode(writer)
        return bytes(writer)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode one structure that fills ``data``; trailing bytes are a DecodeError."""
        reader = Reader(data)
        value = cls.decode(reader)
        reader.finish(cls.__name__)
        return value


class SignedStruct(Struct):
    """A structure whose last field is ``opaque signature<V>`` over the encoding of all
    the fields before it (KeyPackageTBS, GroupInfoTBS, the content of LeafNodeTBS)."""

    __slots__ = ()
    signature: bytes

    def encode_content(self, writer: Writer) -> None:
        raise NotImplementedError

    def encode(self, writer: Writer) -> None:
        self.encode_content(writer)
        writer.vector(self.signature)

    def content_bytes(self) -> bytes:
        writer = Writer()
        self.encode_content(writer)
        return bytes(writer)


def read_enum(reader: Reader, kind: type[E], width: int, what: str) -> E:
    """Read a ``width``-byte enum value, rejecting values this engine cannot parse."""
    raw = reader.uint8(what) if width == 1 else reader.uint16(what)
    member = kind._value2member_map_.get(raw)
    if member is None:
        raise DecodeError(f"{what}: unknown {kind.__name__} {raw}")
    return cast(E, member)


def write_list(writer: Writer, items: Iterable[Struct]) -> None:
    """``T items<V>``: the encoded items behind one varint byte-length header."""
    inner = Writer()
    for item in items:
        item.encode(inner)
    writer.vector(bytes(inner))


def read_list(reader: Reader, decode: Callable[[Reader], T], what: str) -> tuple[T, ...]:
    """``T items<V>``: decode items until the vector's body is used up."""
    body = reader.sub_reader(what)
    items = []
    while body.remaining:
        items.append(decode(body))
    return tuple(items)


def write_uint16_list(writer: Writer, values: Sequence[int]) -> None:
    """``uint16 values<V>``, as Capabilities and RequiredCapabilities list types."""
    writer.vector(b"".join(value.to_bytes(2, "big") for value in values))


def read_uint16_list(reader: Reader, what: str) -> tuple[int, ...]:
    body = reader.vector(what)
    if len(body) % 2:
        raise DecodeError(f"{what}: odd length {len(body)} for a vector of uint16")
    return struct.unpack(f">{len(body) // 2}H", body)


def write_uint32_list(writer: Writer, values: Sequence[int]) -> None:
    writer.vector(b"".join(value.to_bytes(4, "big") for value in values))


def read_uint32_list(reader: Reader, what: str) -> tuple[int, ...]:
    body = reader.vector(what)
    if len(body) % 4:
        raise DecodeError(f"{what}: length {len(body)} is not a multiple of 4 for uint32")
    return struct.unpack(f">{len(body) // 4}I", body)


def read_presence(reader: Reader, what: str) -> bool:
    """§2.1 ``optional<T>``: a uint8 that is 0 (absent) or 1 (present)."""
    flag = reader.uint8(f"{what} presence")
    if flag > 1:
        raise DecodeError(f"{what}: optional presence byte is {flag}, not 0 or 1")
    return flag == 1


def write_optional(writer: Writer, value: Struct | None) -> None:
    if value is None:
        writer.uint8(0)
    else:
        writer.uint8(1)
        value.encode(writer)


def read_optional(reader: Reader, decode: Callable[[Reader], T], what: str) -> T | None:
    return decode(reader) if read_presence(reader, what) else None
