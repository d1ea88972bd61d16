"""GroupContext (RFC 9420 §8.1): the summary of a group's state at one epoch.

Every epoch secret is derived with the encoded GroupContext as context, so two
members agree on secrets only if they agree on this structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import Struct
from sottovoce.mls.wire.extensions import Extension, read_extensions, write_extensions
from sottovoce.mls.wire.registry import ProtocolVersion


@dataclass(frozen=True, slots=True)
class GroupContext(Struct):
    """§8.1 GroupContext."""

    cipher_suite: int
    group_id: bytes
    epoch: int
    tree_hash: bytes
    confirmed_transcript_hash: bytes
    extensions: tuple[Extension, ...] = ()
    version: int = ProtocolVersion.MLS10

    def encode(self, writer: Writer) -> None:
        writer.uint16(self.version).uint16(self.cipher_suite).vector(self.group_id)
        writer.uint64(self.epoch).vector(self.tree_hash).vector(self.confirmed_transcript_hash)
        write_extensions(writer, self.extensions)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        version = reader.uint16("GroupContext.version")
        cipher_suite = reader.uint16("GroupContext.cipher_suite")
        group_id = reader.vector("GroupContext.group_id")
        epoch = reader.uint64("GroupContext.epoch")
        tree_hash = reader.vector("GroupContext.tree_hash")
        confirmed = reader.vector("GroupContext.confirmed_transcript_hash")
        extensions = read_extensions(reader, "GroupContext.extensions")
        return cls(cipher_suite, group_id, epoch, tree_hash, confirmed, extensions, version)
