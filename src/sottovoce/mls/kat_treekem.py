"""Known answers for TreeKEM: treekem.json (RFC 9420 §7.4-§7.6).

Every member with private state processes every other member's UpdatePath: the
decrypted path secret, the commit secret and the tree hash after the merge must be
the vector's. Then each sender creates a fresh UpdatePath on the same tree and every
other member must derive the same commit secret from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sottovoce.crypto import signing
from sottovoce.mls import treekem
from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.treekem import TreePrivateKeys
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.update_path import UpdatePath

FILE = "treekem.json"


@dataclass(frozen=True)
class _Member:
    signing_key: signing.SigningKey
    keys: TreePrivateKeys


def _private_state(suite: CipherSuite, tree: RatchetTree, entry: Mapping[str, Any]) -> _Member:
    """A member's private keys, each checked against the public tree."""
    index = int(entry["index"])
    leaf = tree.leaf(index)
    leaf_key = suite.hpke_key_pair(bytes.fromhex(entry["encryption_priv"]))
    signing_key = suite.signature_key(bytes.fromhex(entry["signature_priv"]))
    if leaf is None or leaf.encryption_key != leaf_key.public:
        raise KatMismatch(f"treekem: encryption_priv of leaf {index}")
    if leaf.signature_key != signing_key.public:
        raise KatMismatch(f"treekem: signature_priv of leaf {index}")
    keys = TreePrivateKeys(index, leaf_key)
    for item in entry["path_secrets"]:
        node = int(item["node"])
        key_pair = treekem.node_key_pair(suite, bytes.fromhex(item["path_secret"]))
        public = tree.node(node)
        if public is None or public.encryption_key != key_pair.public:
            raise KatMismatch(f"treekem: path secret of node {node} for leaf {index}")
        keys.set_path([node], [key_pair])
    return _Member(signing_key, keys)


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    tree = RatchetTree.from_bytes(suite, bytes.fromhex(case["ratchet_tree"]))
    group_id = bytes.fromhex(case["group_id"])
    epoch = int(case["epoch"])
    confirmed = bytes.fromhex(case["confirmed_transcript_hash"])

    def context_for(tree_hash: bytes) -> bytes:
        return bytes(GroupContext(suite.id, group_id, epoch, tree_hash, confirmed))

    members = {
        int(entry["index"]): _private_state(suite, tree, entry) for entry in case["leaves_private"]
    }
    for entry in case["update_paths"]:
        sender = int(entry["sender"])
        update_path = UpdatePath.from_bytes(bytes.fromhex(entry["update_path"]))
        update_path.leaf_node.verify_signature(suite, group_id, sender)
        commit_secret = bytes.fromhex(entry["commit_secret"])
        for index, member in members.items():
            if index == sender:
                continue
            after = tree.copy()
            processed = treekem.process_update_path(
                after, member.keys.copy(), sender, update_path, context_for
            )
            if processed.path_secret != bytes.fromhex(entry["path_secrets"][index]):
                raise KatMismatch(f"treekem: path secret leaf {index} decrypts from {sender}")
            if processed.commit_secret != commit_secret:
                raise KatMismatch(f"treekem: commit secret at leaf {index} from {sender}")
            if after.tree_hash() != bytes.fromhex(entry["tree_hash_after"]):
                raise KatMismatch(f"treekem: tree hash after the UpdatePath of {sender}")

        committer = members[sender]
        created_tree = tree.copy()
        leaf = created_tree.leaf(sender)
        assert leaf is not None
        created = treekem.create_update_path(
            created_tree, committer.keys.copy(), leaf, committer.signing_key, group_id, context_for
        )
        for index, member in members.items():
            if index == sender:
                continue
            processed = treekem.process_update_path(
                tree.copy(), member.keys.copy(), sender, created.update_path, context_for
            )
            if processed.commit_secret != created.commit_secret:
                raise KatMismatch(f"treekem: leaf {index} disagrees on a new path from {sender}")
