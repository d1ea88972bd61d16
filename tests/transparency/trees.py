"""Trees with known contents for the transparency tests."""

from __future__ import annotations

from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.tree import MerkleTree


def leaf_data(index: int) -> bytes:
    """Distinct, variable-length leaf contents (length 1-8), so no two leaves hash alike."""
    return index.to_bytes(8, "big").lstrip(b"\x00") or b"\x00"


def tree_of(size: int) -> MerkleTree:
    tree = MerkleTree(InMemoryLeafStore(), InMemoryNodeStore())
    tree.extend([leaf_data(i) for i in range(size)])
    return tree
