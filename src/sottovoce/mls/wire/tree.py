"""Ratchet tree nodes as they travel (RFC 9420 §7.1, §7.8, §12.4.3.3).

The ratchet_tree extension is ``optional<Node> ratchet_tree<V>``: the tree's nodes
in array order with blanks as absent entries, the trailing blank nodes left off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError
from sottovoce.mls.wire.base import (
    Struct,
    read_enum,
    read_optional,
    read_uint32_list,
    write_optional,
    write_uint32_list,
)
from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.registry import NodeType


@dataclass(frozen=True, slots=True)
class ParentNode(Struct):
    """§7.1 ParentNode: a shared key, the hash binding it to its parent, and the leaves
    below it that do not know its private key yet (in increasing order)."""

    encryption_key: bytes
    parent_hash: bytes = b""
    unmerged_leaves: tuple[int, ...] = ()

    def encode(self, writer: Writer) -> None:
        writer.vector(self.encryption_key).vector(self.parent_hash)
        write_uint32_list(writer, self.unmerged_leaves)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.vector("ParentNode.encryption_key"),
            reader.vector("ParentNode.parent_hash"),
            read_uint32_list(reader, "ParentNode.unmerged_leaves"),
        )


@dataclass(frozen=True, slots=True)
class Node(Struct):
    """§7.8 Node: exactly one of ``leaf`` or ``parent``."""

    leaf: LeafNode | None = None
    parent: ParentNode | None = None

    def __post_init__(self) -> None:
        if (self.leaf is None) == (self.parent is None):
            raise ValueError("Node: exactly one of leaf and parent")

    @property
    def encryption_key(self) -> bytes:
        node = self.leaf if self.leaf is not None else self.parent
        assert node is not None
        return node.encryption_key

    def encode(self, writer: Writer) -> None:
        if self.leaf is not None:
            writer.uint8(NodeType.LEAF)
            self.leaf.encode(writer)
        else:
            assert self.parent is not None
            writer.uint8(NodeType.PARENT)
            self.parent.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        if read_enum(reader, NodeType, 1, "Node.node_type") is NodeType.LEAF:
            return cls(leaf=LeafNode.decode(reader))
        return cls(parent=ParentNode.decode(reader))


@dataclass(frozen=True, slots=True)
class RatchetTreeNodes(Struct):
    """§12.4.3.3 the ratchet_tree extension: nodes in array order, ``None`` for blanks.

    Decoding checks the shape only (leaves at even positions, parents at odd ones,
    a last node that is not blank); :class:`~sottovoce.mls.ratchet_tree.RatchetTree`
    checks the rest.
    """

    nodes: tuple[Node | None, ...]

    def encode(self, writer: Writer) -> None:
        inner = Writer()
        for node in self.nodes:
            write_optional(inner, node)
        writer.vector(bytes(inner))

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        body = reader.sub_reader("ratchet_tree")
        nodes: list[Node | None] = []
        while body.remaining:
            node = read_optional(body, Node.decode, "ratchet_tree node")
            if node is not None and (node.leaf is not None) != (len(nodes) % 2 == 0):
                kind = "leaf" if node.leaf is not None else "parent"
                raise DecodeError(f"ratchet_tree: a {kind} node at index {len(nodes)}")
            nodes.append(node)
        check_trimmed(nodes)
        return cls(tuple(nodes))


def check_trimmed(nodes: Sequence[Node | None]) -> None:
    """§12.4.3.3: the encoding ends at the last non-blank node, which is a leaf."""
    if not nodes:
        raise DecodeError("ratchet_tree: no nodes")
    if nodes[-1] is None:
        raise DecodeError("ratchet_tree: trailing blank node (RFC 9420 §12.4.3.3)")
