"""Leaf node validation (RFC 9420 §7.3): every rule, with the rule named on failure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import ValidationError
from sottovoce.mls.leaf_validation import GroupParameters, validate_leaf_node, validate_tree_leaves
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.extensions import Extension, RequiredCapabilities, typed_extension
from sottovoce.mls.wire.leaf_node import Capabilities, LeafNode, Lifetime
from sottovoce.mls.wire.registry import CredentialType, ExtensionType, LeafNodeSource

from .tree_builders import GROUP_ID, grown_tree, key_package_client, update_leaf

SUITE = cipher_suite(1)
PARAMS = GroupParameters(GROUP_ID, SUITE, now=1_000)
KP = LeafNodeSource.KEY_PACKAGE


def resigned(leaf: LeafNode, **changes: Any) -> LeafNode:
    """``leaf`` with ``changes``, signed again by a fresh client's key."""
    client = key_package_client(SUITE, "new")
    changed = replace(leaf, signature_key=client.signing_key.public, **changes)
    return changed.signed(SUITE, client.signing_key)


def test_a_fresh_key_package_leaf_is_valid_and_a_tree_of_them_too() -> None:
    tree, _ = grown_tree(SUITE, 4)
    newcomer = key_package_client(SUITE, "newcomer")
    validate_leaf_node(PARAMS, tree, newcomer.leaf, source=KP)
    validate_tree_leaves(PARAMS, tree)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lifetime": Lifetime(2_000, 3_000)}, "outside the leaf's lifetime"),
        ({"lifetime": Lifetime(5, 4)}, "lifetime ends before it begins"),
        ({"extensions": (Extension(0xFF00, b""),)}, "extension 65280 that its capabilities"),
        ({"capabilities": Capabilities((1,), (3,), (), (), (1,))}, "cipher suite 1"),
        ({"capabilities": Capabilities((), (1,), (), (), (1,))}, "protocol version 1"),
        ({"capabilities": Capabilities((1,), (1,), (), (), (2,))}, "credential type is not in"),
        ({"encryption_key": bytes(31)}, "encryption_key is 31 bytes"),
    ],
)
def test_each_rule_refuses_a_leaf(changes: dict[str, Any], message: str) -> None:
    tree, _ = grown_tree(SUITE, 2)
    leaf = resigned(key_package_client(SUITE, "x").leaf, **changes)
    with pytest.raises(ValidationError, match=message):
        validate_leaf_node(PARAMS, tree, leaf, source=KP)


def test_application_extensions_listed_in_capabilities_are_accepted() -> None:
    tree, _ = grown_tree(SUITE, 2)
    caps = Capabilities((1,), (1,), (0xFF00,), (), (1,))
    extensions = (Extension(0xFF00, b"x"), Extension(ExtensionType.APPLICATION_ID, b"\x01a"))
    leaf = resigned(key_package_client(SUITE, "x").leaf, capabilities=caps, extensions=extensions)
    validate_leaf_node(PARAMS, tree, leaf, source=KP)


def test_a_forged_signature_and_a_wrong_source_are_refused() -> None:
    tree, _ = grown_tree(SUITE, 2)
    leaf = key_package_client(SUITE, "x").leaf
    with pytest.raises(ValidationError, match="signature does not verify"):
        validate_leaf_node(PARAMS, tree, replace(leaf, signature=bytes(64)), source=KP)
    with pytest.raises(ValidationError, match="leaf_node_source is KEY_PACKAGE, expected UPDATE"):
        validate_leaf_node(PARAMS, tree, leaf, source=LeafNodeSource.UPDATE, leaf_index=0)


def test_update_leaves_are_bound_to_group_and_index_and_need_a_new_key() -> None:
    tree, clients = grown_tree(SUITE, 3)
    fresh = update_leaf(SUITE, clients[1], 1)
    update = LeafNodeSource.UPDATE
    validate_leaf_node(PARAMS, tree, fresh, source=update, leaf_index=1, replaces=1)
    with pytest.raises(ValidationError, match="signature does not verify"):
        validate_leaf_node(PARAMS, tree, fresh, source=update, leaf_index=2, replaces=2)
    other_group = replace(PARAMS, group_id=b"another group")
    with pytest.raises(ValidationError, match="signature does not verify"):
        validate_leaf_node(other_group, tree, fresh, source=update, leaf_index=1, replaces=1)
    tree.set_leaf(1, fresh)
    validate_leaf_node(PARAMS, tree, fresh, source=update, leaf_index=1, replaces=1)
    renamed = replace(fresh, credential=Credential.basic(b"member-1 renamed"))
    same_key = renamed.signed(SUITE, clients[1].signing_key, GROUP_ID, 1)
    with pytest.raises(ValidationError, match="the update leaf must carry a new encryption_key"):
        validate_leaf_node(PARAMS, tree, same_key, source=update, leaf_index=1, replaces=1)
    as_commit = replace(same_key, leaf_node_source=LeafNodeSource.COMMIT, parent_hash=b"ph")
    as_commit = as_commit.signed(SUITE, clients[1].signing_key, GROUP_ID, 1)
    with pytest.raises(ValidationError, match="the commit leaf must carry a new encryption_key"):
        validate_leaf_node(
            PARAMS, tree, as_commit, source=LeafNodeSource.COMMIT, leaf_index=1, replaces=1
        )


def test_keys_must_be_unique_among_members() -> None:
    tree, clients = grown_tree(SUITE, 3)
    copy_of_2 = clients[2].leaf
    with pytest.raises(ValidationError, match="signature_key is already used by member 2"):
        validate_leaf_node(PARAMS, tree, copy_of_2, source=KP)
    same_hpke = resigned(
        key_package_client(SUITE, "x").leaf, encryption_key=copy_of_2.encryption_key
    )
    with pytest.raises(ValidationError, match="encryption_key is already used by member 2"):
        validate_leaf_node(PARAMS, tree, same_hpke, source=KP)
    tree.add_leaf(copy_of_2)
    with pytest.raises(ValidationError, match="members 2 and 3 share a signature_key"):
        validate_tree_leaves(PARAMS, tree)


def test_required_capabilities_and_credential_types_in_use() -> None:
    tree, _ = grown_tree(SUITE, 2)
    required = RequiredCapabilities((0xFF01,), (0xFF02,), ())
    params = replace(
        PARAMS, extensions=(typed_extension(ExtensionType.REQUIRED_CAPABILITIES, required),)
    )
    leaf = key_package_client(SUITE, "x").leaf
    with pytest.raises(ValidationError, match=r"extensions \[65281\], proposals \[65282\]"):
        validate_leaf_node(params, tree, leaf, source=KP)
    capable = resigned(leaf, capabilities=Capabilities((1,), (1,), (0xFF01,), (0xFF02,), (1,)))
    validate_leaf_node(params, tree, capable, source=KP)

    x509 = Credential(CredentialType.X509)
    both = Capabilities((1,), (1,), (), (), (1, 2))
    stranger = resigned(leaf, credential=x509, capabilities=both)
    with pytest.raises(ValidationError, match="member 0 does not support credential type 2"):
        validate_leaf_node(PARAMS, tree, stranger, source=KP)


def test_the_credential_check_is_the_applications() -> None:
    tree, _ = grown_tree(SUITE, 1)
    leaf = key_package_client(SUITE, "mallory").leaf

    def refuse_mallory(credential: Credential, signature_key: bytes) -> None:
        if credential.identity == b"mallory":
            raise ValidationError("RFC 9420 §5.3.1: unknown identity")

    with pytest.raises(ValidationError, match="unknown identity"):
        validate_leaf_node(replace(PARAMS, credential_check=refuse_mallory), tree, leaf, source=KP)
    with pytest.raises(ValidationError, match="exceeds the application's 10 s"):
        validate_leaf_node(replace(PARAMS, max_lifetime=10), tree, leaf, source=KP)
