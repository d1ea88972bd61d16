"""Proposals (RFC 9420 §12.1): the changes a Commit applies to a group.

Each proposal kind is its own dataclass; :class:`Proposal` is the tagged union the
wire carries (``ProposalType`` then the body). A proposal type without a body this
engine knows cannot be parsed (its length is not on the wire) and is a DecodeError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import Struct, read_enum
from sottovoce.mls.wire.extensions import Extension, read_extensions, write_extensions
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.psk import PreSharedKeyId
from sottovoce.mls.wire.registry import ProposalType


@dataclass(frozen=True, slots=True)
class Add(Struct):
    """§12.1.1 Add: a KeyPackage to add."""

    key_package: KeyPackage

    def encode(self, writer: Writer) -> None:
        self.key_package.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(KeyPackage.decode(reader))


@dataclass(frozen=True, slots=True)
class Update(Struct):
    """§12.1.2 Update: the sender's new leaf."""

    leaf_node: LeafNode

    def encode(self, writer: Writer) -> None:
        self.leaf_node.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(LeafNode.decode(reader))


@dataclass(frozen=True, slots=True)
class Remove(Struct):
    """§12.1.3 Remove: the leaf index of the member to remove."""

    removed: int

    def encode(self, writer: Writer) -> None:
        writer.uint32(self.removed)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.uint32("Remove.removed"))


@dataclass(frozen=True, slots=True)
class PreSharedKey(Struct):
    """§12.1.4 PreSharedKey: a PSK to inject into the next epoch."""

    psk: PreSharedKeyId

    def encode(self, writer: Writer) -> None:
        self.psk.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(PreSharedKeyId.decode(reader))


@dataclass(frozen=True, slots=True)
class ReInit(Struct):
    """§12.1.5 ReInit: close this group and restart it with new parameters."""

    group_id: bytes
    version: int
    cipher_suite: int
    extensions: tuple[Extension, ...] = ()

    def encode(self, writer: Writer) -> None:
        writer.vector(self.group_id).uint16(self.version).uint16(self.cipher_suite)
        write_extensions(writer, self.extensions)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.vector("ReInit.group_id"),
            reader.uint16("ReInit.version"),
            reader.uint16("ReInit.cipher_suite"),
            read_extensions(reader, "ReInit.extensions"),
        )


@dataclass(frozen=True, slots=True)
class ExternalInit(Struct):
    """§12.1.6 ExternalInit: the KEM output an external joiner's init secret comes from."""

    kem_output: bytes

    def encode(self, writer: Writer) -> None:
        writer.vector(self.kem_output)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.vector("ExternalInit.kem_output"))


@dataclass(frozen=True, slots=True)
class GroupContextExtensions(Struct):
    """§12.1.7 GroupContextExtensions: the group's complete new extension list."""

    extensions: tuple[Extension, ...]

    def encode(self, writer: Writer) -> None:
        write_extensions(writer, self.extensions)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(read_extensions(reader, "GroupContextExtensions.extensions"))


ProposalBody = Add | Update | Remove | PreSharedKey | ReInit | ExternalInit | GroupContextExtensions

_BODY_TYPES: dict[ProposalType, type[ProposalBody]] = {
    ProposalType.ADD: Add,
    ProposalType.UPDATE: Update,
    ProposalType.REMOVE: Remove,
    ProposalType.PSK: PreSharedKey,
    ProposalType.REINIT: ReInit,
    ProposalType.EXTERNAL_INIT: ExternalInit,
    ProposalType.GROUP_CONTEXT_EXTENSIONS: GroupContextExtensions,
}
_TYPE_OF_BODY = {body: kind for kind, body in _BODY_TYPES.items()}


@dataclass(frozen=True, slots=True)
class Proposal(Struct):
    """§12.1 Proposal: one of the bodies above behind its ProposalType."""

    body: ProposalBody

    @property
    def proposal_type(self) -> ProposalType:
        return _TYPE_OF_BODY[type(self.body)]

    def encode(self, writer: Writer) -> None:
        writer.uint16(self.proposal_type)
        self.body.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        kind = read_enum(reader, ProposalType, 2, "Proposal.proposal_type")
        return cls(_BODY_TYPES[kind].decode(reader))
