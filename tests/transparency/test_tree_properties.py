"""Properties of the log's tree: it is RFC 9162's tree, and its proofs verify only when true.

Small trees are checked against the RFC's recursive definitions (``reference``);
a 70,000-leaf tree checks the same proofs where the tree has 17 levels and
every proof crosses incomplete subtrees.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.protocol.public import merkle
from sottovoce.protocol.public.merkle import ConsistencyProof, InclusionProof, ProofError
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.tree import MerkleTree
from tests.transparency import reference
from tests.transparency.trees import leaf_data, tree_of

SMALL = 300
SMALL_LEAVES = [leaf_data(i) for i in range(SMALL)]
SMALL_TREE = tree_of(SMALL)
LARGE = 70_000
EXAMPLES = settings(max_examples=150, deadline=None)


@st.composite
def sizes_and_index(draw: st.DrawFn, limit: int) -> tuple[int, int, int]:
    """(first, second, index) with 0 < first <= second <= limit and index < first."""
    second = draw(st.integers(1, limit))
    first = draw(st.integers(1, second))
    return first, second, draw(st.integers(0, first - 1))


@pytest.fixture(scope="module")
def large_tree() -> MerkleTree:
    return tree_of(LARGE)


@EXAMPLES
@given(sizes_and_index(SMALL))
def test_roots_and_proofs_are_the_rfc_definitions(case: tuple[int, int, int]) -> None:
    first, second, index = case
    assert SMALL_TREE.root(first) == reference.mth(SMALL_LEAVES[:first])
    inclusion = SMALL_TREE.inclusion_proof(index, first)
    assert list(inclusion.path) == reference.path(index, SMALL_LEAVES[:first])
    consistency = SMALL_TREE.consistency_proof(first, second)
    expected = reference.proof(first, SMALL_LEAVES[:second]) if first < second else []
    assert list(consistency.path) == expected


@EXAMPLES
@given(st.lists(st.binary(max_size=40), max_size=80))
def test_root_from_leaf_hashes_is_mth(leaves: list[bytes]) -> None:
    leaf_hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    assert merkle.root_from_leaf_hashes(leaf_hashes) == reference.mth(leaves)


@EXAMPLES
@given(st.lists(st.binary(max_size=20), max_size=100), st.data())
def test_batching_does_not_change_the_tree(leaves: list[bytes], data: st.DataObject) -> None:
    one_by_one = MerkleTree(InMemoryLeafStore(), nodes_one := InMemoryNodeStore())
    for leaf in leaves:
        one_by_one.append(leaf)
    batched = MerkleTree(InMemoryLeafStore(), nodes_batched := InMemoryNodeStore())
    position = 0
    while position < len(leaves):
        step = data.draw(st.integers(1, len(leaves) - position))
        assert batched.extend(leaves[position : position + step]) == range(
            position, position + step
        )
        position += step
    assert batched.root() == one_by_one.root() == reference.mth(leaves)
    for level in range(8):
        count = nodes_one.node_count(level)
        assert count == nodes_batched.node_count(level) == len(leaves) >> level
        assert [nodes_one.node(level, i) for i in range(count)] == [
            nodes_batched.node(level, i) for i in range(count)
        ]


@EXAMPLES
@given(sizes_and_index(LARGE))
def test_large_tree_proofs_verify(large_tree: MerkleTree, case: tuple[int, int, int]) -> None:
    first, second, index = case
    first_root, second_root = large_tree.root(first), large_tree.root(second)
    inclusion = large_tree.inclusion_proof(index, first)
    merkle.verify_inclusion(merkle.leaf_hash(leaf_data(index)), inclusion, first_root)
    merkle.verify_consistency(large_tree.consistency_proof(first, second), first_root, second_root)
    # Logarithmic: one hash per level, and one more for a consistency proof.
    assert len(inclusion.path) <= math.ceil(math.log2(first))
    assert len(large_tree.consistency_proof(first, second).path) <= math.ceil(math.log2(second)) + 1


@pytest.mark.parametrize("size", [2**16 - 1, 2**16, 2**16 + 1, LARGE])
def test_large_tree_roots_match_a_full_recomputation(large_tree: MerkleTree, size: int) -> None:
    leaf_hashes = [merkle.leaf_hash(leaf_data(i)) for i in range(size)]
    assert large_tree.root(size) == merkle.root_from_leaf_hashes(leaf_hashes)


_INCLUSION_TAMPERING = st.sampled_from(
    ["index", "leaf", "root", "flip", "drop", "extend", "insert"]
)


@EXAMPLES
@given(sizes_and_index(LARGE), _INCLUSION_TAMPERING, st.data())
def test_tampered_inclusion_proofs_fail(
    large_tree: MerkleTree, case: tuple[int, int, int], how: str, data: st.DataObject
) -> None:
    size, _, index = case
    proof = large_tree.inclusion_proof(index, size)
    leaf, root, path = merkle.leaf_hash(leaf_data(index)), large_tree.root(size), proof.path
    if how == "index":
        others = st.integers(0, size).filter(lambda other: other != index)
        index = data.draw(others)  # ``size`` itself is just past the tree
    elif how == "leaf":
        leaf = merkle.leaf_hash(leaf_data(index + 1))
    elif how == "root":
        root = large_tree.root(size - 1) if size > 1 else merkle.EMPTY_ROOT
    elif how == "extend":
        path = (*path, root)
    elif not path:  # nothing to flip, drop or insert into: a one-leaf tree
        path = (root,)
    elif how == "flip":
        position = data.draw(st.integers(0, len(path) - 1))
        bit = data.draw(st.integers(0, 255))
        changed = bytearray(path[position])
        changed[bit // 8] ^= 1 << (bit % 8)
        path = (*path[:position], bytes(changed), *path[position + 1 :])
    elif how == "drop":
        position = data.draw(st.integers(0, len(path) - 1))
        path = path[:position] + path[position + 1 :]
    else:
        position = data.draw(st.integers(0, len(path)))
        path = (*path[:position], merkle.leaf_hash(b"inserted"), *path[position:])
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaf, InclusionProof(index, size, path), root)


_CONSISTENCY_TAMPERING = st.sampled_from(
    ["first size", "first root", "second root", "flip", "drop", "extend"]
)


@EXAMPLES
@given(sizes_and_index(LARGE), _CONSISTENCY_TAMPERING, st.data())
def test_tampered_consistency_proofs_fail(
    large_tree: MerkleTree, case: tuple[int, int, int], how: str, data: st.DataObject
) -> None:
    first, second, _ = case
    if first == second:
        second = min(second + 1, LARGE)
        first = second - 1
    proof = large_tree.consistency_proof(first, second)
    first_root, second_root, path = large_tree.root(first), large_tree.root(second), proof.path
    if how == "first size":
        first = data.draw(st.integers(0, second).filter(lambda other: other != first))
    elif how == "first root":
        first_root = large_tree.root(first - 1)
    elif how == "second root":
        second_root = large_tree.root(second - 1)
    elif how == "extend":
        path = (*path, second_root)
    elif how == "flip":
        position = data.draw(st.integers(0, len(path) - 1))
        changed = bytearray(path[position])
        changed[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
        path = (*path[:position], bytes(changed), *path[position + 1 :])
    else:
        position = data.draw(st.integers(0, len(path) - 1))
        path = path[:position] + path[position + 1 :]
    with pytest.raises(ProofError):
        merkle.verify_consistency(ConsistencyProof(first, second, path), first_root, second_root)
