"""The append-only Merkle tree of RFC 9162 §2.1 over opaque leaves, with its proofs.

Appending keeps the *frontier*: the hash of each complete subtree in the binary
decomposition of the current size (one per set bit). A new leaf merges with the
frontier exactly as a binary counter carries, so an append costs one leaf hash
plus, on average, one node hash, and never reads the stores. Every complete
subtree hash is written once to the node store; proofs read at most one stored
node per tree level, and hash only the incomplete subtrees along the right edge
of the tree they are asked about.
"""

from __future__ import annotations

from collections.abc import Sequence

from sottovoce.crypto.hashing import sha256
from sottovoce.protocol.public.merkle import (
    EMPTY_ROOT,
    LEAF_PREFIX,
    MAX_TREE_SIZE,
    NODE_PREFIX,
    ConsistencyProof,
    InclusionProof,
    node_hash,
)
from sottovoce.server.transparency.errors import OutOfRange, StoreCorrupted
from sottovoce.server.transparency.storage import LeafStore, NodeStore

# Complete subtrees of a tree of at most 2^64 - 1 leaves have at most 2^63 leaves:
# levels 0 to 63, one per bit of the u64 tree size.
_LEVELS = 64


class MerkleTree:
    """An append-only RFC 9162 Merkle tree persisted through a leaf and a node store."""

    __slots__ = ("_frontier", "_leaves", "_nodes", "_root", "_size")

    def __init__(self, leaves: LeafStore, nodes: NodeStore) -> None:
        """Open the tree the stores hold, rebuilding nodes a crash left unwritten."""
        self._leaves = leaves
        self._nodes = nodes
        size = len(leaves)
        counts = [nodes.node_count(level) for level in range(_LEVELS)]
        for level, count in enumerate(counts):
            if count > size >> level:
                raise StoreCorrupted(
                    f"level {level} holds {count} nodes, {size} leaves make only {size >> level}"
                )
        # The longest prefix of the leaves whose complete subtrees are all stored.
        covered = min(size, *(((count + 1) << level) - 1 for level, count in enumerate(counts)))
        self._size = covered
        self._frontier = [
            nodes.node(level, (covered >> level) - 1) if covered >> level & 1 else b""
            for level in range(_LEVELS)
        ]
        self._root: bytes | None = None  # computed when first asked for after a change
        if covered < size:
            missing = [leaves.leaf(index) for index in range(covered, size)]
            self._append(missing, already_stored=counts)

    @property
    def size(self) -> int:
        return self._size

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]) (RFC 9162 §2.1.1): the current root, or the root at an earlier size."""
        if size is None or size == self._size:
            if self._root is None:
                self._root = self._root_from_frontier()
            return self._root
        self._check_size(size)
        return self._subtree_hash(0, size) if size else EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self._size:
            raise OutOfRange(f"no leaf {index} in a log of {self._size}")
        return self._leaves.leaf(index)

    def append(self, leaf: bytes) -> int:
        """Append one leaf; return its index."""
        self._append((leaf,))
        return self._size - 1

    def extend(self, leaves: Sequence[bytes]) -> range:
        """Append ``leaves`` in order, one write per store level; return their indices."""
        start = self._size
        if leaves:
            self._append(leaves)
        return range(start, self._size)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), for the current size by default."""
        size = self._size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise OutOfRange(f"no leaf {index} in a tree of size {size}")
        path: list[bytes] = []  # built root-first, returned leaf-first
        start, end = 0, size
        while end - start > 1:
            split = 1 << ((end - start - 1).bit_length() - 1)  # largest power of 2 below the width
            if index < start + split:
                path.append(self._subtree_hash(start + split, end))
                end = start + split
            else:
                path.append(self._complete_subtree(start, split))
                start += split
        path.reverse()
        return InclusionProof(index, size, tuple(path))

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """RFC 9162 §2.1.4.1 PROOF(first, D[0:second]), to the current size by default.

        The RFC defines proofs for 0 < first < second; for first == 0 or
        first == second the proof is empty, which ``verify_consistency`` accepts.
        """
        second = self._size if second is None else second
        self._check_size(second)
        if not 0 <= first <= second:
            raise OutOfRange(f"no consistency proof from size {first} to size {second}")
        if first in (0, second):
            return ConsistencyProof(first, second, ())
        # SUBPROOF(m, D[start:end], b), unrolled; m is ``first - start`` throughout.
        path: list[bytes] = []
        start, end, whole_old_tree = 0, second, True
        while first != end:
            split = 1 << ((end - start - 1).bit_length() - 1)
            if first <= start + split:
                path.append(self._subtree_hash(start + split, end))
                end = start + split
            else:
                path.append(self._complete_subtree(start, split))
                start += split
                whole_old_tree = False
        if not whole_old_tree:
            path.append(self._subtree_hash(start, end))
        path.reverse()
        return ConsistencyProof(first, second, tuple(path))

    def _append(self, leaves: Sequence[bytes], already_stored: Sequence[int] = ()) -> None:
        """Hash ``leaves`` onto the frontier, then write leaves, then each level's new nodes.

        When reopening, ``already_stored`` holds the node count per level and
        the leaves are stored already; new nodes that a crash had already
        written are checked instead of written again.
        """
        start = self._size
        end = start + len(leaves)
        if end > MAX_TREE_SIZE:
            raise OutOfRange("the log is full: tree sizes are 64-bit")
        frontier = list(self._frontier)
        new_nodes: list[list[bytes]] = [[]]  # per level, up to the highest level reached
        new_leaf_hashes = new_nodes[0]
        hash_ = sha256
        index = start
        for data in leaves:
            current = hash_(LEAF_PREFIX + data)
            new_leaf_hashes.append(current)
            level, position = 0, index
            while position & 1:  # a right child completes its parent: carry upwards
                current = hash_(NODE_PREFIX + frontier[level] + current)
                level += 1
                position >>= 1
                if level == len(new_nodes):
                    new_nodes.append([])
                new_nodes[level].append(current)
            frontier[level] = current
            index += 1
        if already_stored:
            self._skip_stored_nodes(start, new_nodes, already_stored)
        else:
            self._leaves.extend(leaves)
        for level, hashes in enumerate(new_nodes):
            if hashes:
                self._nodes.extend(level, b"".join(hashes))
        self._frontier = frontier
        self._size = end
        self._root = None

    def _skip_stored_nodes(
        self, start: int, new_nodes: list[list[bytes]], already_stored: Sequence[int]
    ) -> None:
        """Drop from ``new_nodes`` those already in the store, checking each equals its copy."""
        for level, hashes in enumerate(new_nodes):
            first_new = start >> level  # the index of hashes[0] at this level
            stored = already_stored[level] - first_new
            for offset in range(stored):
                if self._nodes.node(level, first_new + offset) != hashes[offset]:
                    raise StoreCorrupted(
                        f"stored node {first_new + offset} at level {level} is wrong"
                    )
            del hashes[:stored]

    def _root_from_frontier(self) -> bytes:
        """Fold the frontier from the smallest (rightmost) subtree up: RFC 9162's split order."""
        root = b""
        remaining, level = self._size, 0
        while remaining:
            if remaining & 1:
                subtree = self._frontier[level]
                root = node_hash(subtree, root) if root else subtree
            remaining >>= 1
            level += 1
        return root or EMPTY_ROOT

    def _complete_subtree(self, start: int, width: int) -> bytes:
        """The stored hash of the complete ``width``-leaf subtree (a power of 2) at ``start``."""
        level = width.bit_length() - 1
        return self._nodes.node(level, start >> level)

    def _subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a subtree of RFC 9162's tree (``start`` aligned to its width).

        The range splits into complete subtrees, largest first, one per set bit
        of its width; they are folded from the right as §2.1.1 nests them.
        """
        parts: list[bytes] = []
        position, remaining = start, end - start
        while remaining:
            width = 1 << (remaining.bit_length() - 1)
            parts.append(self._complete_subtree(position, width))
            position += width
            remaining -= width
        result = parts.pop()
        while parts:
            result = node_hash(parts.pop(), result)
        return result

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise OutOfRange(f"tree size {size} is beyond the log's {self._size} leaves")
