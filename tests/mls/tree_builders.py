"""Real leaves and trees for ratchet-tree and TreeKEM tests: fresh keys, signed leaves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sottovoce.crypto import dh, signing
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.treekem import TreePrivateKeys
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.leaf_node import Capabilities, LeafNode, Lifetime
from sottovoce.mls.wire.registry import CredentialType, LeafNodeSource

GROUP_ID = b"test group"
LIFETIME = Lifetime(0, 2**63)


def capabilities(suite: CipherSuite) -> Capabilities:
    return Capabilities((1,), (suite.id,), (), (), (CredentialType.BASIC,))


@dataclass
class Client:
    """One client's secrets: its signature key and its leaf's HPKE key pair."""

    signing_key: signing.SigningKey
    leaf_key: dh.DHKeyPair
    leaf: LeafNode


def key_package_client(suite: CipherSuite, name: str) -> Client:
    signing_key = suite.generate_signature_key()
    leaf_key = suite.generate_hpke_key_pair()
    leaf = LeafNode(
        leaf_key.public,
        signing_key.public,
        Credential.basic(name.encode()),
        capabilities(suite),
        LeafNodeSource.KEY_PACKAGE,
        lifetime=LIFETIME,
    ).signed(suite, signing_key)
    return Client(signing_key, leaf_key, leaf)


def update_leaf(suite: CipherSuite, client: Client, leaf_index: int) -> LeafNode:
    """A fresh update-sourced leaf for ``client`` at ``leaf_index``."""
    client.leaf_key = suite.generate_hpke_key_pair()
    client.leaf = replace(
        client.leaf,
        encryption_key=client.leaf_key.public,
        leaf_node_source=LeafNodeSource.UPDATE,
        lifetime=None,
    ).signed(suite, client.signing_key, GROUP_ID, leaf_index)
    return client.leaf


def grown_tree(suite: CipherSuite, size: int) -> tuple[RatchetTree, list[Client]]:
    """A tree of ``size`` members added one by one, as a creator's Add commits would."""
    clients = [key_package_client(suite, f"member-{i}") for i in range(size)]
    tree = RatchetTree.with_one_member(suite, clients[0].leaf)
    for client in clients[1:]:
        tree.add_leaf(client.leaf)
    return tree, clients


def private_keys(clients: list[Client]) -> list[TreePrivateKeys]:
    return [TreePrivateKeys(index, client.leaf_key) for index, client in enumerate(clients)]


def context_for(suite: CipherSuite, epoch: int = 1) -> Callable[[bytes], bytes]:
    """The provisional GroupContext of a test group, for a given tree hash."""

    def encode(tree_hash: bytes) -> bytes:
        return bytes(GroupContext(suite.id, GROUP_ID, epoch, tree_hash, bytes(32)))

    return encode
