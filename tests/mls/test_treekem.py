"""TreeKEM derivations and path-secret encryption (RFC 9420 §7.4-§7.6)."""

from __future__ import annotations

import pytest

from sottovoce.mls import tree_math, treekem
from sottovoce.mls.ciphersuite import SUITES, CipherSuite, cipher_suite
from sottovoce.mls.errors import CryptoFailure, ValidationError
from sottovoce.mls.treekem import FreshPath, PathSecrets, TreePrivateKeys

ALL_SUITES = pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)
SUITE = cipher_suite(1)
CONTEXT = b"provisional GroupContext"


def test_path_chain_links_each_secret_to_the_next() -> None:
    first = bytes(range(32))
    path = PathSecrets.chain(SUITE, first, 3)
    assert path.secrets[0] == first
    assert path.secrets[1] == SUITE.derive_secret(first, "path")
    assert path.secrets[2] == SUITE.derive_secret(path.secrets[1], "path")
    assert path.commit_secret == SUITE.derive_secret(path.secrets[2], "path")
    # A member that learns the middle secret reaches the same commit secret.
    assert PathSecrets.chain(SUITE, path.secrets[1], 2).commit_secret == path.commit_secret
    assert repr(path) == "PathSecrets(<3 secrets>)"


def test_node_key_pair_goes_through_the_node_secret() -> None:
    path_secret = bytes(range(32))
    expected = SUITE.derive_hpke_key_pair(SUITE.derive_secret(path_secret, "node"))
    assert treekem.node_key_pair(SUITE, path_secret).public == expected.public
    assert (
        treekem.node_key_pair(SUITE, path_secret).public
        != SUITE.derive_hpke_key_pair(path_secret).public
    )


def test_fresh_path_follows_figure_14() -> None:
    leaf_secret = bytes(range(1, 33))
    fresh = FreshPath.generate(SUITE, 2, leaf_secret=leaf_secret)
    assert fresh.leaf_key_pair.public == treekem.node_key_pair(SUITE, leaf_secret).public
    assert fresh.path.secrets[0] == SUITE.derive_secret(leaf_secret, "path")
    alone = FreshPath.generate(SUITE, 0, leaf_secret=leaf_secret)
    assert alone.path.secrets == ()
    assert alone.path.commit_secret == fresh.path.secrets[0]
    assert FreshPath.generate(SUITE, 2).path.commit_secret != fresh.path.commit_secret
    with pytest.raises(ValidationError, match="leaf secret must be 32 bytes"):
        FreshPath.generate(SUITE, 1, leaf_secret=bytes(16))


@ALL_SUITES
def test_update_in_a_four_member_tree_reaches_every_member(suite: CipherSuite) -> None:
    """Member B (leaf 1) commits; A (leaf 0) and D (leaf 3, holding node 5) follow."""
    leaves = 4
    sender_node = tree_math.leaf_to_node(1)
    path_nodes = tree_math.direct_path(sender_node, leaves)
    copath = tree_math.copath(sender_node, leaves)
    assert (path_nodes, copath) == ([1, 3], [0, 5])
    key_a = suite.generate_hpke_key_pair()
    key_node_5 = suite.generate_hpke_key_pair()

    fresh = FreshPath.generate(suite, len(path_nodes))
    ciphertexts = [
        treekem.encrypt_path_secret(suite, secret, [recipient.public], CONTEXT)[0]
        for secret, recipient in zip(fresh.path.secrets, (key_a, key_node_5), strict=True)
    ]
    public_keys = [pair.public for pair in fresh.path.key_pairs(suite)]

    # A shares node 1 with B: it decrypts path_secret[0] and derives the rest.
    secret_a = treekem.decrypt_path_secret(suite, key_a, CONTEXT, *ciphertexts[0])
    path_a = PathSecrets.chain(suite, secret_a, 2)
    treekem.check_public_keys(suite, path_nodes, path_a, public_keys)
    # D only shares the root: it learns path_secret[1] and nothing about node 1.
    secret_d = treekem.decrypt_path_secret(suite, key_node_5, CONTEXT, *ciphertexts[1])
    path_d = PathSecrets.chain(suite, secret_d, 1)
    treekem.check_public_keys(suite, path_nodes[1:], path_d, public_keys[1:])
    assert path_a.commit_secret == path_d.commit_secret == fresh.path.commit_secret

    with pytest.raises(CryptoFailure, match="UpdatePathNode decryption"):
        treekem.decrypt_path_secret(suite, key_a, b"another context", *ciphertexts[0])
    with pytest.raises(CryptoFailure):
        treekem.decrypt_path_secret(suite, key_node_5, CONTEXT, *ciphertexts[0])


def test_announced_public_keys_must_match_the_derived_ones() -> None:
    path = PathSecrets.chain(SUITE, bytes(range(32)), 2)
    honest = [pair.public for pair in path.key_pairs(SUITE)]
    treekem.check_public_keys(SUITE, [1, 3], path, honest)
    forged = [honest[0], SUITE.generate_hpke_key_pair().public]
    with pytest.raises(ValidationError, match="derived for node 3 differs"):
        treekem.check_public_keys(SUITE, [1, 3], path, forged)
    with pytest.raises(ValidationError, match="do not cover"):
        treekem.check_public_keys(SUITE, [1], path, honest)


def test_a_decrypted_path_secret_must_be_nh_bytes() -> None:
    key_pair = SUITE.generate_hpke_key_pair()
    kem_output, ciphertext = treekem.encrypt_path_secret(
        SUITE, bytes(31), [key_pair.public], CONTEXT
    )[0]
    with pytest.raises(ValidationError, match="31 bytes, expected 32"):
        treekem.decrypt_path_secret(SUITE, key_pair, CONTEXT, kem_output, ciphertext)


def test_private_keys_follow_the_tree_invariant() -> None:
    leaf_key = SUITE.generate_hpke_key_pair()
    keys = TreePrivateKeys(2, leaf_key)
    assert keys.key_pair(4) is leaf_key
    path = PathSecrets.chain(SUITE, bytes(range(32)), 2)
    keys.set_path([5, 3], path.key_pairs(SUITE))
    assert keys.nodes == [3, 4, 5]
    keys.forget([5, 7])
    assert keys.nodes == [3, 4]
    assert keys.key_pair(5) is None
    replacement = SUITE.generate_hpke_key_pair()
    keys.set_leaf(replacement)
    assert keys.key_pair(4) is replacement
    assert repr(keys) == "TreePrivateKeys(leaf=2, nodes=[3, 4])"
