"""The ratchet tree (RFC 9420 §4.1, §7): shape, resolution, changes, hashes, integrity."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls import treekem
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import DecodeError, MLSError, ValidationError
from sottovoce.mls.leaf_validation import GroupParameters, validate_tree_leaves
from sottovoce.mls.ratchet_tree import RatchetTree, TreeNode, subtree_leaves
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.leaf_node import Capabilities, LeafNode, Lifetime
from sottovoce.mls.wire.registry import LeafNodeSource
from sottovoce.mls.wire.tree import ParentNode

from .tree_builders import GROUP_ID, context_for, grown_tree, private_keys

SUITE = cipher_suite(1)


def fake_leaf(name: str) -> LeafNode:
    """An unsigned leaf: enough for shape, resolution and hash tests."""
    return LeafNode(
        name.encode().ljust(32, b"."),
        name.encode().ljust(32, b"!"),
        Credential.basic(name.encode()),
        Capabilities(),
        LeafNodeSource.KEY_PACKAGE,
        lifetime=Lifetime(0, 1),
    )


def parent(name: str, unmerged: tuple[int, ...] = ()) -> ParentNode:
    return ParentNode(name.encode().ljust(32, b"^"), b"", unmerged)


def figure_tree() -> RatchetTree:
    """RFC 9420 §4.1.1 "A Tree with Blanks and Unmerged Leaves": X[B] above A-D, Y
    above E and F, leaves 2 and 6 blank."""
    nodes: list[TreeNode | None] = [None] * 15
    for leaf, name in ((0, "A"), (1, "B"), (3, "D"), (4, "E"), (5, "F"), (7, "H")):
        nodes[2 * leaf] = fake_leaf(name)
    nodes[3] = parent("X", (1,))
    nodes[9] = parent("Y")
    return RatchetTree(SUITE, nodes)


def test_resolution_follows_the_rfc_example() -> None:
    tree = figure_tree()
    assert tree.resolution(3) == [3, 2]
    assert tree.resolution(4) == [] == tree.resolution(12)
    assert tree.resolution(7) == [3, 2, 9, 14]


def test_filtered_direct_paths_follow_the_rfc_table() -> None:
    # §4.1.2 "A Complete Tree with Five Members": A B _ _ E F G _, T=1, X=9, Y=11, W=7.
    nodes: list[TreeNode | None] = [None] * 15
    for leaf, name in ((0, "A"), (1, "B"), (4, "E"), (5, "F"), (6, "G")):
        nodes[2 * leaf] = fake_leaf(name)
    nodes[1], nodes[9], nodes[11], nodes[7] = parent("T"), parent("X"), parent("Y"), parent("W")
    tree = RatchetTree(SUITE, nodes)
    assert tree.filtered_direct_path(0) == [1, 7] == tree.filtered_direct_path(1)
    assert tree.filtered_direct_path(4) == [9, 11, 7] == tree.filtered_direct_path(5)
    assert tree.filtered_direct_path(6) == [11, 7]
    assert tree.filtered_path_and_copath(6) == [(11, 9), (7, 3)]


def test_add_takes_the_leftmost_blank_and_marks_it_unmerged() -> None:
    tree = figure_tree()
    assert tree.add_leaf(fake_leaf("C")) == 2
    assert tree.parent_node(3) == parent("X", (1, 2))
    assert tree.add_leaf(fake_leaf("G")) == 6
    assert tree.add_leaf(fake_leaf("I")) == 8
    assert tree.n_leaves == 16
    assert tree.resolution(tree.root) == [3, 1 * 2, 2 * 2, 9, 12, 14, 16]


def test_remove_blanks_the_path_and_truncates() -> None:
    tree = RatchetTree.with_one_member(SUITE, fake_leaf("A"))
    for name in "BCDE":
        tree.add_leaf(fake_leaf(name))
    assert tree.n_leaves == 8
    tree.remove_leaf(4)
    assert tree.n_leaves == 4
    tree.remove_leaf(1)
    assert (tree.n_leaves, tree.leaf(1)) == (4, None)
    tree.remove_leaf(3)
    tree.remove_leaf(2)
    assert tree.n_leaves == 1
    with pytest.raises(ValidationError, match=r"§12\.1\.3: Remove of leaf 0"):
        RatchetTree(SUITE, [None, None, fake_leaf("B")]).remove_leaf(0)


def test_update_replaces_the_leaf_and_blanks_its_path() -> None:
    tree = figure_tree()
    tree.update_leaf(1, fake_leaf("B2"))
    assert tree.node(3) is None and tree.node(7) is None and tree.node(9) is not None
    with pytest.raises(ValidationError, match="leaf 2 is blank"):
        tree.update_leaf(2, fake_leaf("C"))


def test_wire_form_drops_trailing_blanks_and_restores_the_width() -> None:
    nodes: list[TreeNode | None] = [
        fake_leaf("A"),
        parent("P"),
        fake_leaf("B"),
        parent("Q"),
        fake_leaf("C"),
    ]
    tree = RatchetTree(SUITE, [*nodes, None, None])
    assert len(tree.to_wire().nodes) == 5
    again = RatchetTree.from_bytes(SUITE, bytes(tree))
    assert again == tree and again.width == 7
    with pytest.raises(DecodeError, match="trailing blank"):
        RatchetTree.from_bytes(SUITE, bytes.fromhex("0100"))
    with pytest.raises(ValidationError, match="do not form a complete tree"):
        RatchetTree(SUITE, [fake_leaf("A"), None])


def test_subtree_leaves() -> None:
    assert subtree_leaves(0) == range(0, 1)
    assert subtree_leaves(3) == range(0, 4)
    assert subtree_leaves(11) == range(4, 8)


operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "update"]), st.integers(0, 40)), max_size=25
)


@settings(max_examples=60, deadline=None)
@given(ops=operations)
def test_cached_tree_hash_matches_a_fresh_computation(ops: list[tuple[str, int]]) -> None:
    tree = RatchetTree.with_one_member(SUITE, fake_leaf("root"))
    for step, (op, pick) in enumerate(ops):
        members = [index for index, _ in tree.members()]
        if op == "add" or len(members) == 1:
            tree.add_leaf(fake_leaf(f"n{step}"))
        elif op == "remove":
            tree.remove_leaf(members[1 + pick % (len(members) - 1)])
        else:
            tree.update_leaf(members[pick % len(members)], fake_leaf(f"u{step}"))
        tree.tree_hash()
    fresh = RatchetTree.from_bytes(SUITE, bytes(tree))
    assert fresh == tree
    assert fresh.tree_hash() == tree.tree_hash()
    assert [fresh.node_tree_hash(i) for i in range(tree.width)] == [
        tree.node_tree_hash(i) for i in range(tree.width)
    ]


def committed_tree(size: int) -> RatchetTree:
    """A tree whose members each committed an UpdatePath in turn, so every parent
    node was set by a real path with real parent hashes."""
    tree, clients = grown_tree(SUITE, size)
    keys = private_keys(clients)
    for index, client in enumerate(clients):
        leaf = tree.leaf(index)
        assert leaf is not None
        treekem.create_update_path(
            tree, keys[index], leaf, client.signing_key, GROUP_ID, context_for(SUITE)
        )
    return tree


def test_parent_hashes_of_committed_trees_verify() -> None:
    tree = committed_tree(6)
    tree.check_integrity()
    for index, leaf in tree.members():
        leaf.verify_signature(SUITE, GROUP_ID, index)


def test_a_forged_parent_key_breaks_the_parent_hash_chain() -> None:
    tree = committed_tree(4)
    node = tree.parent_node(tree.root)
    assert node is not None
    forged = tree.copy()
    forged._set(tree.root, replace(node, encryption_key=bytes(32)))
    with pytest.raises(ValidationError, match=r"§7\.9\.2: parent node 3 is not parent-hash valid"):
        forged.verify_parent_hashes()
    tree.verify_parent_hashes()


def test_unmerged_leaves_are_parent_hash_neutral_but_checked() -> None:
    tree = committed_tree(3)
    tree.add_leaf(fake_leaf("late"))
    tree.check_integrity()
    node = tree.parent_node(tree.root)
    assert node is not None and node.unmerged_leaves == (3,)
    bad = tree.copy()
    bad._set(tree.root, replace(node, unmerged_leaves=(3, 3)))
    with pytest.raises(ValidationError, match="not in increasing order"):
        bad.check_integrity()
    tree.remove_leaf(3)
    bad = tree.copy()
    bad._set(tree.root, replace(node, unmerged_leaves=(2,)))
    with pytest.raises(ValidationError):
        bad.check_integrity()


def test_shared_encryption_keys_are_refused() -> None:
    tree = committed_tree(2)
    leaf = tree.leaf(0)
    node = tree.parent_node(1)
    assert leaf is not None and node is not None
    tree._set(0, replace(leaf, encryption_key=node.encryption_key))
    with pytest.raises(ValidationError, match="share an encryption key"):
        tree.check_integrity()


def official_trees() -> list[pytest.ParameterSet]:
    path = Path(__file__).resolve().parents[3] / "shared" / "mls-test-vectors"
    cases = json.loads((path / "tree-validation.json").read_text())
    return [
        pytest.param(case["cipher_suite"], case["tree"], case["group_id"], id=f"tree{index}")
        for index, case in enumerate(cases)
    ]


@pytest.mark.parametrize(("suite_id", "encoded", "group_id"), official_trees())
def test_changing_any_parent_of_an_official_tree_is_detected(
    suite_id: int, encoded: str, group_id: str
) -> None:
    suite = cipher_suite(suite_id)
    tree = RatchetTree.from_bytes(suite, bytes.fromhex(encoded))
    tree.check_integrity()
    checked = 0
    for index in range(1, tree.width, 2):
        node = tree.parent_node(index)
        if node is None:
            continue
        for forged in (
            replace(node, parent_hash=node.parent_hash + b"\x00"),
            replace(node, encryption_key=bytes(32)),
        ):
            bad = tree.copy()
            bad._set(index, forged)
            with pytest.raises(ValidationError, match=r"§7\.9\.2"):
                bad.verify_parent_hashes()
            checked += 1
    assert checked > 0


@settings(max_examples=300, deadline=None)
@given(
    tree=st.sampled_from(official_trees()),
    position=st.integers(0, 100_000),
    byte=st.integers(1, 255),
)
def test_damaged_official_trees_fail_only_with_mls_errors(
    tree: pytest.ParameterSet, position: int, byte: int
) -> None:
    """A joiner's whole pipeline on an official tree with one byte changed: decode,
    integrity, every leaf. Every byte of a tree is signed by a leaf or bound by a
    parent hash, so some check must fail, and only with a typed MLSError."""
    suite_id, encoded, group_id = tree.values
    assert isinstance(suite_id, int) and isinstance(encoded, str) and isinstance(group_id, str)
    suite = cipher_suite(suite_id)
    params = GroupParameters(bytes.fromhex(group_id), suite)
    validate_tree_leaves(params, RatchetTree.from_bytes(suite, bytes.fromhex(encoded)))
    data = bytearray(bytes.fromhex(encoded))
    data[position % len(data)] ^= byte
    try:
        damaged = RatchetTree.from_bytes(suite, bytes(data))
        damaged.tree_hash()
        damaged.check_integrity()
        validate_tree_leaves(params, damaged)
    except MLSError:
        return
    raise AssertionError("a damaged tree passed every check a joiner makes")
