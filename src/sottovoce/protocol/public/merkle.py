"""Merkle tree hashing and proof verification for the key-transparency log (RFC 9162 §2.1).

Clients, monitors and auditors check the log with these functions, and the log
builds its tree with the same two hash functions, so the two sides cannot drift
apart. The hashing is exactly RFC 9162's (and RFC 6962's) with SHA-256: leaves
and interior nodes carry different one-byte prefixes so that no leaf can be
passed off as a node (second-preimage resistance, RFC 9162 §2.1.1), which also
means any other RFC 6962 implementation computes the same roots.

Proof wire forms (integers big-endian)::

    InclusionProof:   u64 leaf_index | u64 tree_size   | u8 count | count x 32-byte hash
    ConsistencyProof: u64 first_size | u64 second_size | u8 count | count x 32-byte hash
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sottovoce.crypto.hashing import SHA256_LEN, constant_time_equal, sha256
from sottovoce.protocol.errors import DecodeError, VerificationError

HASH_LEN = SHA256_LEN
# RFC 9162 §2.1.1: 0x00 before a leaf's data, 0x01 before two child hashes.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# RFC 9162 §2.1.1: MTH({}) = HASH(), the hash of the empty string.
EMPTY_ROOT = sha256(b"")
# Tree sizes and indices are u64 on the wire, as in RFC 9162 §4.
MAX_TREE_SIZE = 2**64 - 1
# A tree of at most 2^64 - 1 leaves is at most 64 levels deep, and an inclusion
# path holds one sibling per level.
MAX_INCLUSION_PATH = 64
# RFC 9162 §2.1.4.1 SUBPROOF adds one hash per level it descends (at most 64)
# plus, when it stops inside the old tree, that subtree's own hash.
MAX_CONSISTENCY_PATH = 65

_PROOF_HEADER = struct.Struct(">QQB")


class MalformedProof(DecodeError):
    """A proof or hash does not have the shape its wire form requires."""


class ProofError(VerificationError):
    """A well-formed proof does not prove what it claims against the given roots."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))."""
    return sha256(LEAF_PREFIX + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return sha256(NODE_PREFIX + left + right)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash (RFC 9162 §2.1.1) of a whole list of leaf hashes.

    What an auditor runs after downloading every entry. Linear time, logarithmic
    memory: it keeps only the roots of the complete subtrees seen so far, so
    RFC 9162's split at the largest power of two falls out of the merge order.
    """
    stack: list[tuple[int, bytes]] = []  # (subtree size, subtree hash), sizes decreasing
    for item in leaf_hashes:
        _check_hash(item, "leaf hash")
        size, current = 1, item
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, current = left_size + size, node_hash(left, current)
        stack.append((size, current))
    if not stack:
        return EMPTY_ROOT
    root = stack.pop()[1]
    while stack:
        root = node_hash(stack.pop()[1], root)
    return root


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 §2.1.3: the audit path from one leaf to the root of a tree of ``tree_size``."""

    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return _encode_proof(self.leaf_index, self.tree_size, self.path, MAX_INCLUSION_PATH)

    @classmethod
    def from_bytes(cls, data: bytes) -> InclusionProof:
        index, size, path = _decode_proof(data, "inclusion proof", MAX_INCLUSION_PATH)
        return cls(index, size, path)


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4: why the tree of ``second_size`` extends the tree of ``first_size``."""

    first_size: int
    second_size: int
    path: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return _encode_proof(self.first_size, self.second_size, self.path, MAX_CONSISTENCY_PATH)

    @classmethod
    def from_bytes(cls, data: bytes) -> ConsistencyProof:
        first, second, path = _decode_proof(data, "consistency proof", MAX_CONSISTENCY_PATH)
        return cls(first, second, path)


def root_from_inclusion_proof(leaf: bytes, proof: InclusionProof) -> bytes:
    """Recompute the root that ``proof`` claims for the leaf whose hash is ``leaf``.

    RFC 9162 §2.1.3.2 steps 1-4; the caller compares the result with a root it
    trusts (step 5), which :func:`verify_inclusion` does.
    """
    _check_hash(leaf, "leaf hash")
    _check_path(proof.path, "inclusion proof")
    index, size = proof.leaf_index, proof.tree_size
    _check_size(size, "tree size")
    # Step 1.
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    # Steps 2-3.
    fn, sn, r = index, size - 1, leaf
    # Step 4.
    for p in proof.path:
        if sn == 0:  # 4a
            raise ProofError(f"inclusion proof is longer than a tree of size {size} is deep")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5, first half: the path must have reached the root.
    if sn != 0:
        raise ProofError(f"inclusion proof is too short for leaf {index} of a tree of size {size}")
    return r


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> None:
    """RFC 9162 §2.1.3.2: raise :class:`ProofError` unless ``leaf`` is in the tree with ``root``."""
    _check_hash(root, "root hash")
    if not constant_time_equal(root_from_inclusion_proof(leaf, proof), root):
        raise ProofError(
            f"inclusion proof for leaf {proof.leaf_index} does not lead to the root "
            f"of the tree of size {proof.tree_size}"
        )


def verify_consistency(proof: ConsistencyProof, first_root: bytes, second_root: bytes) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`ProofError` unless the second tree extends the first.

    The RFC defines proofs for 0 < first < second only; the two trivial cases
    are settled here with an empty proof: a tree is consistent with itself (the
    roots must be equal) and every tree extends the empty tree (whose root must
    be ``EMPTY_ROOT``).
    """
    _check_hash(first_root, "first root hash")
    _check_hash(second_root, "second root hash")
    _check_path(proof.path, "consistency proof")
    first, second = proof.first_size, proof.second_size
    _check_size(first, "first tree size")
    _check_size(second, "second tree size")
    if first > second:
        raise ProofError(f"first tree size {first} is larger than second tree size {second}")
    if first == second or first == 0:
        if proof.path:
            raise ProofError(f"consistency from size {first} to {second} needs an empty proof")
        if first == 0 and not constant_time_equal(first_root, EMPTY_ROOT):
            raise ProofError("first root is not the root of the empty tree")
        if first == second and not constant_time_equal(first_root, second_root):
            raise ProofError(f"two roots of the same tree size {first} differ")
        return
    fr, sr = _roots_from_consistency_path(first, second, first_root, proof.path)
    if not constant_time_equal(fr, first_root):
        raise ProofError(f"consistency proof does not lead to the first root (size {first})")
    if not constant_time_equal(sr, second_root):
        raise ProofError(f"consistency proof does not lead to the second root (size {second})")


def _roots_from_consistency_path(
    first: int, second: int, first_root: bytes, consistency_path: tuple[bytes, ...]
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 1-6 for 0 < first < second; returns (fr, sr)."""
    # Step 1.
    if not consistency_path:
        raise ProofError(f"consistency proof from size {first} to {second} is empty")
    # Step 2: the old tree is a complete subtree, so the proof omits its root.
    path = (first_root, *consistency_path) if first & (first - 1) == 0 else consistency_path
    # Steps 3-4.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:  # 6a
            raise ProofError(f"consistency proof is too long for sizes {first} to {second}")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7, first half: the path must have reached the second root.
    if sn != 0:
        raise ProofError(f"consistency proof is too short for sizes {first} to {second}")
    return fr, sr


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_LEN:
        raise MalformedProof(f"{what} must be {HASH_LEN} bytes, got {len(value)}")


def _check_size(value: int, what: str) -> None:
    if not 0 <= value <= MAX_TREE_SIZE:
        raise MalformedProof(f"{what} {value} does not fit in 64 bits")


def _check_path(path: tuple[bytes, ...], what: str) -> None:
    for position, item in enumerate(path):
        if len(item) != HASH_LEN:
            raise MalformedProof(
                f"{what} hash {position} must be {HASH_LEN} bytes, got {len(item)}"
            )


def _encode_proof(first: int, second: int, path: tuple[bytes, ...], max_path: int) -> bytes:
    if len(path) > max_path:
        raise ValueError(f"a proof holds at most {max_path} hashes")
    return _PROOF_HEADER.pack(first, second, len(path)) + b"".join(path)


def _decode_proof(data: bytes, what: str, max_path: int) -> tuple[int, int, tuple[bytes, ...]]:
    if len(data) < _PROOF_HEADER.size:
        raise MalformedProof(f"{what} is truncated: {len(data)} bytes")
    first, second, count = _PROOF_HEADER.unpack_from(data)
    if count > max_path:
        raise MalformedProof(f"{what} claims {count} hashes, more than {max_path}")
    expected = _PROOF_HEADER.size + count * HASH_LEN
    if len(data) != expected:
        raise MalformedProof(f"{what} is {len(data)} bytes, its {count} hashes need {expected}")
    base = _PROOF_HEADER.size
    path = tuple(data[base + i * HASH_LEN : base + (i + 1) * HASH_LEN] for i in range(count))
    return first, second, path
