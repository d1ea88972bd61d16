"""The tree persists through its stores: reopening resumes it, a crash loses nothing, and
stores that cannot describe one tree are refused rather than served."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.server.transparency.errors import OutOfRange, StoreCorrupted
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.tree import MerkleTree
from tests.transparency.trees import leaf_data, tree_of

LEVELS = 12


def crashed_stores(
    leaf_count: int, node_sizes: list[int], leaves: list[bytes] | None = None
) -> tuple[InMemoryLeafStore, InMemoryNodeStore]:
    """Stores holding ``leaf_count`` leaves and, at each level, only the nodes that a tree
    of ``node_sizes[level]`` leaves has: what a crash between writes leaves behind."""
    complete = InMemoryNodeStore()
    MerkleTree(InMemoryLeafStore(), complete).extend(
        [leaf_data(i) for i in range(max(leaf_count, *node_sizes))]
    )
    leaf_store, nodes = InMemoryLeafStore(), InMemoryNodeStore()
    leaf_store.extend(leaves or [leaf_data(i) for i in range(leaf_count)])
    for level, tree_size in enumerate(node_sizes):
        if tree_size >> level:
            hashes = (complete.node(level, i) for i in range(tree_size >> level))
            nodes.extend(level, b"".join(hashes))
    return leaf_store, nodes


def test_reopening_resumes_the_same_tree() -> None:
    leaves, nodes = InMemoryLeafStore(), InMemoryNodeStore()
    tree = MerkleTree(leaves, nodes)
    tree.extend([leaf_data(i) for i in range(37)])
    reopened = MerkleTree(leaves, nodes)
    assert (reopened.size, reopened.root()) == (37, tree.root())
    reopened.extend([leaf_data(i) for i in range(37, 50)])
    assert reopened.root() == tree_of(50).root()
    assert reopened.inclusion_proof(40) == tree_of(50).inclusion_proof(40)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.data())
def test_nodes_lost_in_a_crash_are_rebuilt(size: int, data: st.DataObject) -> None:
    """Leaves are written first; whatever prefix of each level's nodes made it is enough."""
    before = data.draw(st.integers(0, size - 1))
    # The batch after ``before`` wrote its leaves and its nodes up to some level only.
    written_levels = data.draw(st.integers(0, size.bit_length()))
    node_sizes = [size if level < written_levels else before for level in range(LEVELS)]
    leaves, nodes = crashed_stores(size, node_sizes)
    reopened = MerkleTree(leaves, nodes)
    expected = tree_of(size)
    assert (reopened.size, reopened.root()) == (size, expected.root())
    for level in range(LEVELS):
        assert nodes.node_count(level) == size >> level
    index = data.draw(st.integers(0, size - 1))
    assert reopened.inclusion_proof(index) == expected.inclusion_proof(index)


def test_more_nodes_than_leaves_is_corruption() -> None:
    leaves, nodes = crashed_stores(10, [12] * LEVELS)
    with pytest.raises(StoreCorrupted, match="level 0 holds 12 nodes, 10 leaves make only 10"):
        MerkleTree(leaves, nodes)


def test_a_wrong_node_met_while_rebuilding_is_corruption() -> None:
    # Level 2's second node and level 3 were lost, so leaf 7 is hashed again on opening.
    tampered = [leaf_data(i) for i in range(7)] + [b"not the logged leaf"]
    leaves, nodes = crashed_stores(8, [8, 8, 4, 4], tampered)
    with pytest.raises(StoreCorrupted, match="stored node 7 at level 0 is wrong"):
        MerkleTree(leaves, nodes)


def test_out_of_range_requests_are_refused() -> None:
    tree = tree_of(5)
    with pytest.raises(OutOfRange, match="no leaf 5 in a log of 5"):
        tree.leaf(5)
    with pytest.raises(OutOfRange, match="beyond the log's 5 leaves"):
        tree.root(6)
    with pytest.raises(OutOfRange, match="no leaf 3 in a tree of size 3"):
        tree.inclusion_proof(3, 3)
    with pytest.raises(OutOfRange, match="beyond"):
        tree.inclusion_proof(0, 6)
    with pytest.raises(OutOfRange, match="from size 4 to size 3"):
        tree.consistency_proof(4, 3)
    with pytest.raises(OutOfRange, match="beyond"):
        tree.consistency_proof(1, 6)
    assert tree.leaf(4) == leaf_data(4)


def test_empty_tree() -> None:
    tree = tree_of(0)
    assert tree.size == 0
    assert tree.root() == tree.root(0)
    assert tree.extend([]) == range(0)
    assert tree.consistency_proof(0).path == ()


def test_in_memory_stores_refuse_what_they_do_not_hold() -> None:
    leaves, nodes = InMemoryLeafStore(), InMemoryNodeStore()
    leaves.extend([b"", b"one", b"two"])
    assert [leaves.leaf(i) for i in range(3)] == [b"", b"one", b"two"]
    with pytest.raises(IndexError):
        leaves.leaf(3)
    with pytest.raises(IndexError):
        leaves.leaf(-1)
    assert nodes.node_count(5) == 0
    nodes.extend(2, bytes(64))
    assert nodes.node_count(2) == 2
    assert nodes.node_count(0) == 0
    with pytest.raises(IndexError):
        nodes.node(2, 2)
    with pytest.raises(ValueError, match="32-byte"):
        nodes.extend(0, bytes(33))
