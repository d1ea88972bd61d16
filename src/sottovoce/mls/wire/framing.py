"""Framed content and the two protected message forms (RFC 9420 §6).

:class:`FramedContent` is what a sender authenticates; a :class:`PublicMessage`
carries it signed (plus a membership tag for members), a :class:`PrivateMessage`
carries it encrypted, with :class:`PrivateMessageContent` and :class:`SenderData`
as the two plaintexts. The cryptography on these structures is
:mod:`sottovoce.mls.framing`; decoding here checks structure only, so a
PublicMessage carrying application data decodes and is refused by the §6 rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer, encode_vector
from sottovoce.mls.errors import DecodeError
from sottovoce.mls.wire.base import Struct, read_enum
from sottovoce.mls.wire.commit import Commit
from sottovoce.mls.wire.proposals import Proposal
from sottovoce.mls.wire.registry import ContentType, ProtocolVersion, SenderType, WireFormat

# §6.3.1: the random value XORed into the first bytes of every content nonce.
REUSE_GUARD_LEN = 4

Content = bytes | Proposal | Commit
"""The body of a FramedContent: application data, a Proposal or a Commit."""

# The structures every message signs, encrypts and decodes are encoded as one
# ``b"".join`` of their fields rather than through a Writer: each application
# message encodes FramedContentTBS twice (sign, verify) and PrivateMessage once.
_CONTENT_TYPE_BYTES = {kind: kind.to_bytes(1, "big") for kind in ContentType}
_SENDER_TYPE_BYTES = {kind: kind.to_bytes(1, "big") for kind in SenderType}
# §6.1 FramedContentTBS begins with the version and the wire format.
_TBS_HEADERS = {
    wire_format: ProtocolVersion.MLS10.to_bytes(2, "big") + wire_format.to_bytes(2, "big")
    for wire_format in WireFormat
}


def content_type_of(content: Content) -> ContentType:
    if isinstance(content, Proposal):
        return ContentType.PROPOSAL
    if isinstance(content, Commit):
        return ContentType.COMMIT
    return ContentType.APPLICATION


def encode_content(writer: Writer, content: Content) -> None:
    """The ``select (content_type)`` body shared by FramedContent and PrivateMessageContent."""
    writer.raw(content_bytes(content))


def content_bytes(content: Content) -> bytes:
    """:func:`encode_content` as bytes: ``application_data<V>``, a Proposal or a Commit."""
    if isinstance(content, bytes):
        return encode_vector(content)
    return bytes(content)


def decode_content(reader: Reader, content_type: ContentType, what: str) -> Content:
    """The ``select (content_type)`` body; ``what`` names the application_data field."""
    if content_type is ContentType.APPLICATION:
        return reader.vector(what)
    if content_type is ContentType.PROPOSAL:
        return Proposal.decode(reader)
    return Commit.decode(reader)


@dataclass(frozen=True, slots=True)
class Sender(Struct):
    """§6 Sender. ``index`` is the leaf index of a member or the position of an
    external sender in the external_senders extension; new members have none."""

    sender_type: SenderType
    index: int = 0

    @classmethod
    def member(cls, leaf_index: int) -> Sender:
        return cls(SenderType.MEMBER, leaf_index)

    @property
    def has_index(self) -> bool:
        return self.sender_type in (SenderType.MEMBER, SenderType.EXTERNAL)

    def encode(self, writer: Writer) -> None:
        writer.raw(bytes(self))

    def __bytes__(self) -> bytes:
        kind = _SENDER_TYPE_BYTES[self.sender_type]
        return kind + self.index.to_bytes(4, "big") if self.has_index else kind

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        kind = read_enum(reader, SenderType, 1, "Sender.sender_type")
        if kind in (SenderType.MEMBER, SenderType.EXTERNAL):
            return cls(kind, reader.uint32("Sender.leaf_index"))
        return cls(kind)


@dataclass(frozen=True, slots=True)
class FramedContent(Struct):
    """§6 FramedContent."""

    group_id: bytes
    epoch: int
    sender: Sender
    authenticated_data: bytes
    content: Content

    @property
    def content_type(self) -> ContentType:
        return content_type_of(self.content)

    def encode(self, writer: Writer) -> None:
        writer.raw(bytes(self))

    def __bytes__(self) -> bytes:
        content = self.content
        return b"".join(
            (
                encode_vector(self.group_id),
                self.epoch.to_bytes(8, "big"),
                bytes(self.sender),
                encode_vector(self.authenticated_data),
                _CONTENT_TYPE_BYTES[content_type_of(content)],
                content_bytes(content),
            )
        )

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        group_id = reader.vector("FramedContent.group_id")
        epoch = reader.uint64("FramedContent.epoch")
        sender = Sender.decode(reader)
        authenticated_data = reader.vector("FramedContent.authenticated_data")
        content_type = read_enum(reader, ContentType, 1, "FramedContent.content_type")
        content = decode_content(reader, content_type, "FramedContent.application_data")
        return cls(group_id, epoch, sender, authenticated_data, content)


@dataclass(frozen=True, slots=True)
class FramedContentAuthData:
    """§6.1 FramedContentAuthData: the signature, and for commits the confirmation tag.

    Its shape depends on the content type, so it decodes with that type in hand. A
    commit's tag is ``None`` only while the commit is being signed: the tag is computed
    from the epoch the signed commit creates (§6.1, §8.2).
    """

    signature: bytes
    confirmation_tag: bytes | None = None

    def encode(self, writer: Writer) -> None:
        writer.raw(bytes(self))

    def __bytes__(self) -> bytes:
        if self.confirmation_tag is None:
            return encode_vector(self.signature)
        return encode_vector(self.signature) + encode_vector(self.confirmation_tag)

    @classmethod
    def decode(cls, reader: Reader, content_type: ContentType) -> FramedContentAuthData:
        signature = reader.vector("FramedContentAuthData.signature")
        if content_type is ContentType.COMMIT:
            return cls(signature, reader.vector("FramedContentAuthData.confirmation_tag"))
        return cls(signature)


def framed_content_tbs(
    wire_format: WireFormat, content: FramedContent, group_context: bytes | None
) -> bytes:
    """§6.1 FramedContentTBS. ``group_context`` (encoded) is present exactly for
    member and new_member_commit senders."""
    encoded = _TBS_HEADERS[wire_format] + bytes(content)
    return encoded if group_context is None else encoded + group_context


@dataclass(frozen=True, slots=True)
class AuthenticatedContent(Struct):
    """§6.1 AuthenticatedContent: what a ProposalRef hashes and what framing verifies."""

    wire_format: WireFormat
    content: FramedContent
    auth: FramedContentAuthData

    def encode(self, writer: Writer) -> None:
        writer.uint16(self.wire_format)
        self.content.encode(writer)
        self.auth.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        wire_format = read_enum(reader, WireFormat, 2, "AuthenticatedContent.wire_format")
        content = FramedContent.decode(reader)
        return cls(wire_format, content, FramedContentAuthData.decode(reader, content.content_type))


@dataclass(frozen=True, slots=True)
class PublicMessage(Struct):
    """§6.2 PublicMessage: signed content, with a membership tag from members."""

    content: FramedContent
    auth: FramedContentAuthData
    membership_tag: bytes | None = None

    def encode(self, writer: Writer) -> None:
        self.content.encode(writer)
        self.auth.encode(writer)
        if self.membership_tag is not None:
            writer.vector(self.membership_tag)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        content = FramedContent.decode(reader)
        auth = FramedContentAuthData.decode(reader, content.content_type)
        tag = None
        if content.sender.sender_type is SenderType.MEMBER:
            tag = reader.vector("PublicMessage.membership_tag")
        return cls(content, auth, tag)


@dataclass(frozen=True, slots=True)
class PrivateMessage(Struct):
    """§6.3 PrivateMessage: the cleartext header and the two ciphertexts."""

    group_id: bytes
    epoch: int
    content_type: ContentType
    authenticated_data: bytes
    encrypted_sender_data: bytes
    ciphertext: bytes

    def encode(self, writer: Writer) -> None:
        writer.raw(bytes(self))

    def __bytes__(self) -> bytes:
        return b"".join(
            (
                encode_vector(self.group_id),
                self.epoch.to_bytes(8, "big"),
                _CONTENT_TYPE_BYTES[self.content_type],
                encode_vector(self.authenticated_data),
                encode_vector(self.encrypted_sender_data),
                encode_vector(self.ciphertext),
            )
        )

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.vector("PrivateMessage.group_id"),
            reader.uint64("PrivateMessage.epoch"),
            read_enum(reader, ContentType, 1, "PrivateMessage.content_type"),
            reader.vector("PrivateMessage.authenticated_data"),
            reader.vector("PrivateMessage.encrypted_sender_data"),
            reader.vector("PrivateMessage.ciphertext"),
        )


@dataclass(frozen=True, slots=True)
class PrivateMessageContent:
    """§6.3.1 PrivateMessageContent: the plaintext of a PrivateMessage's ciphertext.

    Padding is all zero bytes (§6.3.1 requires receivers to reject anything else);
    ``padding`` counts them.
    """

    content: Content
    auth: FramedContentAuthData
    padding: int = 0

    def __bytes__(self) -> bytes:
        return content_bytes(self.content) + bytes(self.auth) + bytes(self.padding)

    @classmethod
    def from_bytes(cls, data: bytes, content_type: ContentType) -> PrivateMessageContent:
        reader = Reader(data)
        content = decode_content(reader, content_type, "PrivateMessageContent.application_data")
        auth = FramedContentAuthData.decode(reader, content_type)
        padding = reader.raw(reader.remaining, "PrivateMessageContent.padding")
        if padding.count(0) != len(padding):
            raise DecodeError("RFC 9420 §6.3.1: PrivateMessageContent padding is not all zeros")
        return cls(content, auth, len(padding))


@dataclass(frozen=True, slots=True)
class SenderData(Struct):
    """§6.3.2 SenderData: which leaf sent, at which generation, with which reuse guard."""

    leaf_index: int
    generation: int
    reuse_guard: bytes

    def __post_init__(self) -> None:
        if len(self.reuse_guard) != REUSE_GUARD_LEN:
            raise ValueError(f"RFC 9420 §6.3.2: reuse_guard must be {REUSE_GUARD_LEN} bytes")

    def encode(self, writer: Writer) -> None:
        writer.raw(bytes(self))

    def __bytes__(self) -> bytes:
        return (
            self.leaf_index.to_bytes(4, "big")
            + self.generation.to_bytes(4, "big")
            + self.reuse_guard
        )

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        leaf_index = reader.uint32("SenderData.leaf_index")
        generation = reader.uint32("SenderData.generation")
        return cls(leaf_index, generation, reader.raw(REUSE_GUARD_LEN, "SenderData.reuse_guard"))
