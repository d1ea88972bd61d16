"""The few clear bytes of an MLS message the Delivery Service reads (RFC 9420 §6).

The server may not import ``sottovoce.mls`` (it must never reach code that
decrypts), yet it orders commits per group and epoch. Every MLSMessage names its
wire format in clear, and handshake and application messages name their group id,
epoch and content type in clear too, before anything encrypted or signed:

    struct { ProtocolVersion version; WireFormat wire_format; ... } MLSMessage;    §6
    PublicMessage:  FramedContent { group_id<V>; uint64 epoch; Sender sender;
                                    authenticated_data<V>; ContentType content_type; …}
    PrivateMessage: { group_id<V>; uint64 epoch; ContentType content_type; …}      §6.3
    KeyPackage:     { ProtocolVersion version; CipherSuite cipher_suite; …}         §10

So the server checks that the header fields a client sends beside a message are
the ones the message itself carries, and reads nothing further. Whether the
message is authentic is for the members to check: a forged header can only
misroute bytes that members then reject.
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 9420 §6: ProtocolVersion mls10 = 1.
MLS10 = 1
# RFC 9420 §6, WireFormat.
PUBLIC_MESSAGE = 1
PRIVATE_MESSAGE = 2
WELCOME = 3
GROUP_INFO = 4
KEY_PACKAGE = 5
# RFC 9420 §6, ContentType.
APPLICATION = 1
PROPOSAL = 2
COMMIT = 3
CONTENT_TYPES = {"application": APPLICATION, "proposal": PROPOSAL, "commit": COMMIT}
# RFC 9420 §6, SenderType: member and external senders name a uint32 index.
_SENDER_WITH_INDEX = {1, 2}
_SENDER_WITHOUT_INDEX = {3, 4}


class HeaderError(ValueError):
    """The bytes do not start like the MLS message they are said to be."""


@dataclass(frozen=True, slots=True)
class MessageHeader:
    wire_format: int
    group_id: bytes
    epoch: int
    content_type: int


class _Bytes:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self._pos + n > len(self._data):
            raise HeaderError(f"truncated before the end of {what}")
        part = self._data[self._pos : self._pos + n]
        self._pos += n
        return part

    def uint(self, n: int, what: str) -> int:
        return int.from_bytes(self.take(n, what), "big")

    def vector(self, what: str) -> bytes:
        # RFC 9420 §2.1.2: a QUIC-style varint length of 1, 2 or 4 bytes in the
        # shortest form; the 8-byte form (prefix 0b11) is invalid in MLS.
        first = self.uint(1, what)
        prefix = first >> 6
        if prefix == 3:
            raise HeaderError(f"{what} has an invalid length prefix")
        size = 1 << prefix
        length = first & 0x3F
        for _ in range(size - 1):
            length = (length << 8) | self.uint(1, what)
        if size > 1 and length < 1 << (8 * (size // 2) - 2):
            raise HeaderError(f"{what} has a non-minimal length encoding")
        return self.take(length, what)


def _start(data: bytes, expected: set[int], what: str) -> tuple[_Bytes, int]:
    reader = _Bytes(data)
    if reader.uint(2, f"{what} version") != MLS10:
        raise HeaderError(f"{what} is not MLS 1.0")
    wire_format = reader.uint(2, f"{what} wire format")
    if wire_format not in expected:
        raise HeaderError(
            f"{what} has wire format {wire_format}, expected one of {sorted(expected)}"
        )
    return reader, wire_format


def message_header(data: bytes) -> MessageHeader:
    """Group id, epoch and content type of an MLSMessage holding a PublicMessage or
    PrivateMessage."""
    reader, wire_format = _start(data, {PUBLIC_MESSAGE, PRIVATE_MESSAGE}, "message")
    group_id = reader.vector("group_id")
    epoch = reader.uint(8, "epoch")
    if wire_format == PUBLIC_MESSAGE:
        sender_type = reader.uint(1, "sender")
        if sender_type in _SENDER_WITH_INDEX:
            reader.take(4, "sender index")
        elif sender_type not in _SENDER_WITHOUT_INDEX:
            raise HeaderError(f"sender type {sender_type} is not defined")
        reader.vector("authenticated_data")
    content_type = reader.uint(1, "content_type")
    if content_type not in CONTENT_TYPES.values():
        raise HeaderError(f"content type {content_type} is not defined")
    return MessageHeader(wire_format, group_id, epoch, content_type)


def check_welcome(data: bytes) -> None:
    """The bytes are an MLSMessage holding a Welcome (its content is encrypted)."""
    _start(data, {WELCOME}, "welcome")


def key_package_suite(data: bytes) -> int:
    """The cipher suite of an MLSMessage holding a KeyPackage."""
    reader, _ = _start(data, {KEY_PACKAGE}, "key package")
    if reader.uint(2, "key package version") != MLS10:
        raise HeaderError("key package is not MLS 1.0")
    return reader.uint(2, "key package cipher suite")
