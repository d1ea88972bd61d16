"""UpdatePath (RFC 9420 §7.6): a committer's new leaf, the new public keys of its
filtered direct path, and each path secret encrypted to the copath's resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import Struct, read_list, write_list
from sottovoce.mls.wire.hpke import HPKECiphertext
from sottovoce.mls.wire.leaf_node import LeafNode


@dataclass(frozen=True, slots=True)
class UpdatePathNode(Struct):
    """§7.6 UpdatePathNode: one node's new public key and its encrypted path secret."""

    encryption_key: bytes
    encrypted_path_secret: tuple[HPKECiphertext, ...]

    def encode(self, writer: Writer) -> None:
        writer.vector(self.encryption_key)
        write_list(writer, self.encrypted_path_secret)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.vector("UpdatePathNode.encryption_key"),
            read_list(reader, HPKECiphertext.decode, "UpdatePathNode.encrypted_path_secret"),
        )


@dataclass(frozen=True, slots=True)
class UpdatePath(Struct):
    """§7.6 UpdatePath."""

    leaf_node: LeafNode
    nodes: tuple[UpdatePathNode, ...]

    def encode(self, writer: Writer) -> None:
        self.leaf_node.encode(writer)
        write_list(writer, self.nodes)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            LeafNode.decode(reader), read_list(reader, UpdatePathNode.decode, "UpdatePath.nodes")
        )
