"""The verifier rejects every malformed or tampered proof with a typed error naming the fault."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public import merkle
from sottovoce.protocol.public.merkle import (
    ConsistencyProof,
    InclusionProof,
    MalformedProof,
    ProofError,
)
from tests.transparency.trees import leaf_data, tree_of

SIZE = 13
TREE = tree_of(SIZE)
ROOT = TREE.root()
LEAF_HASHES = [merkle.leaf_hash(leaf_data(i)) for i in range(SIZE)]
OTHER_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_error_classes_sit_under_the_protocol_errors() -> None:
    assert issubclass(MalformedProof, DecodeError)
    assert issubclass(ProofError, VerificationError)


# -- inclusion -----------------------------------------------------------------------------


def test_leaf_outside_the_tree_is_refused() -> None:
    for index, size in ((0, 0), (1, 0), (1, 1), (SIZE, SIZE), (-1, SIZE)):
        with pytest.raises(ProofError, match="outside a tree"):
            merkle.verify_inclusion(LEAF_HASHES[0], InclusionProof(index, size, ()), ROOT)


def test_inclusion_proof_too_long_or_too_short() -> None:
    proof = TREE.inclusion_proof(4)
    longer = InclusionProof(4, SIZE, (*proof.path, OTHER_HASH))
    with pytest.raises(ProofError, match="longer than"):
        merkle.verify_inclusion(LEAF_HASHES[4], longer, ROOT)
    shorter = InclusionProof(4, SIZE, proof.path[:-1])
    with pytest.raises(ProofError, match="too short"):
        merkle.verify_inclusion(LEAF_HASHES[4], shorter, ROOT)


def test_wrong_hash_lengths_are_malformed() -> None:
    proof = TREE.inclusion_proof(3)
    with pytest.raises(MalformedProof, match="leaf hash must be 32 bytes, got 9"):
        merkle.verify_inclusion(b"WrongLeaf", proof, ROOT)
    with pytest.raises(MalformedProof, match="root hash must be 32 bytes, got 0"):
        merkle.verify_inclusion(LEAF_HASHES[3], proof, b"")
    bad_path = InclusionProof(3, SIZE, (proof.path[0], b"", *proof.path[1:]))
    with pytest.raises(MalformedProof, match="inclusion proof hash 1 must be 32 bytes, got 0"):
        merkle.verify_inclusion(LEAF_HASHES[3], bad_path, ROOT)


def test_size_beyond_64_bits_is_malformed() -> None:
    with pytest.raises(MalformedProof, match="64 bits"):
        merkle.verify_inclusion(LEAF_HASHES[0], InclusionProof(0, 2**64, ()), ROOT)


def test_single_leaf_tree_root_is_the_leaf_hash() -> None:
    single = merkle.leaf_hash(b"data")
    merkle.verify_inclusion(single, InclusionProof(0, 1, ()), single)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(single, InclusionProof(0, 1, ()), merkle.EMPTY_ROOT)


@pytest.mark.parametrize("index", range(SIZE))
def test_every_corruption_of_an_inclusion_proof_fails(index: int) -> None:
    """The probes of transparency-dev/merkle's corruptInclusionProof, plus every index."""
    proof = TREE.inclusion_proof(index)
    leaf = LEAF_HASHES[index]
    merkle.verify_inclusion(leaf, proof, ROOT)
    path = proof.path
    probes: list[tuple[bytes, InclusionProof, bytes]] = [
        (leaf, InclusionProof(index, SIZE, path), merkle.EMPTY_ROOT),
        (leaf, InclusionProof(index, SIZE, path), OTHER_HASH),
        (LEAF_HASHES[(index + 1) % SIZE], proof, ROOT),
        (leaf, InclusionProof(index, SIZE * 2, path), ROOT),
        (leaf, InclusionProof(index, SIZE // 2, path), ROOT),
        (leaf, InclusionProof(index, SIZE, (*path, ROOT)), ROOT),
        (leaf, InclusionProof(index, SIZE, (ROOT, *path)), ROOT),
        (leaf, InclusionProof(index, SIZE, path[:-1]), ROOT),
        (leaf, InclusionProof(index, SIZE, (path[0], OTHER_HASH, *path[1:])), ROOT),
    ]
    probes += [
        (leaf, InclusionProof(other, SIZE, path), ROOT) for other in range(SIZE) if other != index
    ]
    for position in range(len(path)):
        flipped = bytes([path[position][0] ^ 8]) + path[position][1:]
        tampered = (*path[:position], flipped, *path[position + 1 :])
        probes.append((leaf, InclusionProof(index, SIZE, tampered), ROOT))
    for probe_leaf, probe, probe_root in probes:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(probe_leaf, probe, probe_root)


# -- consistency ---------------------------------------------------------------------------


def test_trivial_consistency_needs_an_empty_proof_and_matching_roots() -> None:
    merkle.verify_consistency(ConsistencyProof(0, 0, ()), merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    merkle.verify_consistency(ConsistencyProof(0, SIZE, ()), merkle.EMPTY_ROOT, ROOT)
    merkle.verify_consistency(ConsistencyProof(SIZE, SIZE, ()), ROOT, ROOT)
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(ConsistencyProof(0, SIZE, ()), ROOT, ROOT)
    with pytest.raises(ProofError, match="same tree size"):
        merkle.verify_consistency(ConsistencyProof(SIZE, SIZE, ()), ROOT, OTHER_HASH)
    with pytest.raises(ProofError, match="needs an empty proof"):
        merkle.verify_consistency(ConsistencyProof(SIZE, SIZE, (ROOT,)), ROOT, ROOT)
    with pytest.raises(ProofError, match="needs an empty proof"):
        merkle.verify_consistency(ConsistencyProof(0, 1, (ROOT,)), merkle.EMPTY_ROOT, ROOT)


def test_consistency_back_in_time_is_refused() -> None:
    with pytest.raises(ProofError, match="larger than"):
        merkle.verify_consistency(ConsistencyProof(2, 1, ()), ROOT, ROOT)


def test_empty_consistency_proof_between_different_sizes_is_refused() -> None:
    with pytest.raises(ProofError, match="is empty"):
        merkle.verify_consistency(ConsistencyProof(1, 2, ()), TREE.root(1), TREE.root(2))


def test_consistency_roots_must_be_hashes() -> None:
    proof = TREE.consistency_proof(5)
    with pytest.raises(MalformedProof, match="first root hash must be 32 bytes"):
        merkle.verify_consistency(proof, b"WrongRoot", ROOT)
    with pytest.raises(MalformedProof, match="second root hash must be 32 bytes"):
        merkle.verify_consistency(proof, TREE.root(5), b"WrongRoot")


@pytest.mark.parametrize("first", range(1, SIZE))
def test_every_corruption_of_a_consistency_proof_fails(first: int) -> None:
    """The probes of transparency-dev/merkle's corruptConsistencyProof, plus every first size."""
    proof = TREE.consistency_proof(first)
    old = TREE.root(first)
    merkle.verify_consistency(proof, old, ROOT)
    path = proof.path
    probes: list[tuple[ConsistencyProof, bytes, bytes]] = [
        (ConsistencyProof(first, SIZE * 2, path), old, ROOT),
        (ConsistencyProof(first, SIZE // 2, path), old, ROOT),
        (proof, OTHER_HASH, ROOT),
        (proof, old, OTHER_HASH),
        (proof, ROOT, old),
        (ConsistencyProof(first, SIZE, ()), old, ROOT),
        (ConsistencyProof(first, SIZE, (*path, old)), old, ROOT),
        (ConsistencyProof(first, SIZE, (*path, ROOT)), old, ROOT),
        (ConsistencyProof(first, SIZE, (old, *path)), old, ROOT),
        (ConsistencyProof(first, SIZE, (ROOT, *path)), old, ROOT),
        (ConsistencyProof(first, SIZE, (path[0], *path)), old, ROOT),
        (ConsistencyProof(first, SIZE, path[:-1]), old, ROOT),
    ]
    probes += [
        (ConsistencyProof(other, SIZE, path), old, ROOT)
        for other in range(SIZE + 1)
        if other != first
    ]
    for position in range(len(path)):
        flipped = bytes([path[position][0] ^ 16]) + path[position][1:]
        tampered = (*path[:position], flipped, *path[position + 1 :])
        probes.append((ConsistencyProof(first, SIZE, tampered), old, ROOT))
    for probe, first_root, second_root in probes:
        with pytest.raises(ProofError):
            merkle.verify_consistency(probe, first_root, second_root)


# -- wire forms ----------------------------------------------------------------------------


def test_proofs_round_trip_through_bytes() -> None:
    inclusion = TREE.inclusion_proof(7)
    data = inclusion.to_bytes()
    assert len(data) == 17 + 32 * len(inclusion.path)
    assert InclusionProof.from_bytes(data) == inclusion
    consistency = TREE.consistency_proof(3)
    assert ConsistencyProof.from_bytes(consistency.to_bytes()) == consistency
    empty = ConsistencyProof(SIZE, SIZE, ())
    assert ConsistencyProof.from_bytes(empty.to_bytes()) == empty


@pytest.mark.parametrize("parse", [InclusionProof.from_bytes, ConsistencyProof.from_bytes])
def test_malformed_proof_bytes_are_refused(parse: Callable[[bytes], object]) -> None:
    data = TREE.inclusion_proof(7).to_bytes()
    for bad, message in (
        (b"", "truncated: 0 bytes"),
        (data[:16], "truncated: 16 bytes"),
        (data[:-1], "need"),
        (data + b"\x00", "need"),
        (data[:16] + b"\xff" + bytes(32 * 255), "claims 255 hashes"),
    ):
        with pytest.raises(MalformedProof, match=message):
            parse(bad)


def test_encoding_refuses_an_oversized_path() -> None:
    with pytest.raises(ValueError, match="at most 64"):
        InclusionProof(0, 1, (OTHER_HASH,) * 65).to_bytes()
    ConsistencyProof(1, 2, (OTHER_HASH,) * 65).to_bytes()
    with pytest.raises(ValueError, match="at most 65"):
        ConsistencyProof(1, 2, (OTHER_HASH,) * 66).to_bytes()
