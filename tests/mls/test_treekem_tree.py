"""TreeKEM on the real ratchet tree (RFC 9420 §7.4-§7.6, §12.4.3.1): UpdatePaths
created by one member and processed by every other, new members left out."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.mls import tree_math, treekem
from sottovoce.mls.ciphersuite import SUITES, CipherSuite
from sottovoce.mls.errors import CryptoFailure, MLSError, ValidationError
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.treekem import TreePrivateKeys
from sottovoce.mls.wire.update_path import UpdatePath

from .tree_builders import (
    GROUP_ID,
    Client,
    context_for,
    grown_tree,
    key_package_client,
    private_keys,
)

ALL_SUITES = pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)


def commit(
    suite: CipherSuite,
    tree: RatchetTree,
    keys: TreePrivateKeys,
    client: Client,
    *,
    excluded: tuple[int, ...] = (),
) -> treekem.CreatedPath:
    leaf = tree.leaf(keys.leaf_index)
    assert leaf is not None
    return treekem.create_update_path(
        tree, keys, leaf, client.signing_key, GROUP_ID, context_for(suite), excluded=excluded
    )


@ALL_SUITES
def test_every_member_derives_the_committers_secret(suite: CipherSuite) -> None:
    tree, clients = grown_tree(suite, 7)
    keys = private_keys(clients)
    before = tree.copy()
    created = commit(suite, tree, keys[2], clients[2])
    tree.verify_parent_hashes()
    for index in range(7):
        if index == 2:
            continue
        theirs = before.copy()
        processed = treekem.process_update_path(
            theirs, keys[index], 2, created.update_path, context_for(suite)
        )
        assert processed.commit_secret == created.commit_secret
        assert processed.path_secret == created.path_secrets[processed.node]
        assert theirs == tree
        # §7.4 tree invariant: a member holds exactly the keys of its own ancestors
        # that the path refreshed.
        ancestors = set(tree_math.direct_path(2 * index, tree.n_leaves))
        assert set(keys[index].nodes) - {2 * index} <= ancestors


def test_successive_commits_keep_everyone_in_step() -> None:
    suite = SUITES[1]
    tree, clients = grown_tree(suite, 5)
    keys = private_keys(clients)
    trees = [tree.copy() for _ in clients]
    for committer in (0, 3, 1, 4, 2, 0):
        created = commit(suite, trees[committer], keys[committer], clients[committer])
        for index in range(5):
            if index != committer:
                processed = treekem.process_update_path(
                    trees[index], keys[index], committer, created.update_path, context_for(suite)
                )
                assert processed.commit_secret == created.commit_secret
        assert all(other == trees[committer] for other in trees)
        trees[committer].check_integrity()


def test_new_members_are_left_out_and_join_by_path_secret() -> None:
    suite = SUITES[3]
    tree, clients = grown_tree(suite, 3)
    keys = private_keys(clients)
    joiner = key_package_client(suite, "joiner")
    before = tree.copy()
    for provisional in (tree, before):
        assert provisional.add_leaf(joiner.leaf) == 3
    created = commit(suite, tree, keys[0], clients[0], excluded=(3,))
    # The root's copath child is node 5 = {leaf 2, leaf 3}; only leaf 2 gets a copy.
    assert [len(node.encrypted_path_secret) for node in created.update_path.nodes] == [1, 1]
    processed = treekem.process_update_path(
        before, keys[2], 0, created.update_path, context_for(suite), excluded=(3,)
    )
    assert processed.commit_secret == created.commit_secret
    joiner_keys = TreePrivateKeys(3, joiner.leaf_key)
    common = tree_math.root(tree.n_leaves)
    commit_secret = treekem.install_path_secret(
        tree, joiner_keys, 0, common, created.path_secrets[common]
    )
    assert commit_secret == created.commit_secret
    assert joiner_keys.nodes == [3, 6]
    with pytest.raises(ValidationError, match="resolution of node 5"):
        treekem.process_update_path(
            tree.copy(), keys[2].copy(), 0, created.update_path, context_for(suite)
        )


def test_tampered_update_paths_are_refused() -> None:
    suite = SUITES[1]
    tree, clients = grown_tree(suite, 4)
    keys = private_keys(clients)
    before = tree.copy()
    created = commit(suite, tree, keys[0], clients[0])
    path = created.update_path

    def process(update_path: UpdatePath, context: bytes | None = None) -> None:
        encode = context_for(suite) if context is None else (lambda _: context)
        treekem.process_update_path(before.copy(), keys[3].copy(), 0, update_path, encode)

    process(path)
    forged_leaf = replace(path.leaf_node, parent_hash=bytes(32))
    with pytest.raises(ValidationError, match="parent_hash does not match"):
        process(replace(path, leaf_node=forged_leaf))
    with pytest.raises(ValidationError, match="UpdatePath has 1 nodes"):
        process(replace(path, nodes=path.nodes[:1]))
    extra = replace(path.nodes[1], encrypted_path_secret=path.nodes[1].encrypted_path_secret * 2)
    with pytest.raises(ValidationError, match="4 ciphertexts for the 2 nodes"):
        process(replace(path, nodes=(path.nodes[0], extra)))
    with pytest.raises(CryptoFailure, match="UpdatePathNode decryption"):
        process(path, context=b"another group context")
    wrong_key = replace(path.nodes[1], encryption_key=path.nodes[0].encryption_key)
    with pytest.raises(ValidationError):
        process(replace(path, nodes=(path.nodes[0], wrong_key)))
    with pytest.raises(ValidationError, match="own UpdatePath"):
        treekem.process_update_path(before.copy(), keys[0], 0, path, context_for(suite))


def test_a_group_of_one_still_gets_a_fresh_commit_secret() -> None:
    suite = SUITES[1]
    tree, clients = grown_tree(suite, 1)
    keys = private_keys(clients)
    first = commit(suite, tree, keys[0], clients[0])
    second = commit(suite, tree, keys[0], clients[0])
    assert first.update_path.nodes == () and first.commit_secret != second.commit_secret
    assert repr(first).startswith("CreatedPath(") and first.commit_secret.hex() not in repr(first)


@pytest.fixture(scope="module")
def five_member_path() -> tuple[RatchetTree, TreePrivateKeys, bytes, bytes]:
    suite = SUITES[1]
    tree, clients = grown_tree(suite, 5)
    keys = private_keys(clients)
    before = tree.copy()
    created = commit(suite, tree, keys[1], clients[1])
    return before, keys[4], bytes(created.update_path), created.commit_secret


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(0, 10_000), byte=st.integers(1, 255), cut=st.booleans())
def test_damaged_update_paths_fail_only_with_mls_errors(
    five_member_path: tuple[RatchetTree, TreePrivateKeys, bytes, bytes],
    position: int,
    byte: int,
    cut: bool,
) -> None:
    """Damage anywhere is a typed MLSError, or it is in a part this member does not
    use (another member's ciphertext, the leaf signature the caller verifies) and the
    member derives the very commit secret of the undamaged path."""
    tree, keys, encoded, commit_secret = five_member_path
    at = position % len(encoded)
    damaged = (
        encoded[:at] if cut else encoded[:at] + bytes([encoded[at] ^ byte]) + encoded[at + 1 :]
    )
    try:
        update_path = UpdatePath.from_bytes(damaged)
        processed = treekem.process_update_path(
            tree.copy(), keys.copy(), 1, update_path, context_for(SUITES[1])
        )
    except MLSError:
        return
    assert processed.commit_secret == commit_secret
