"""Known answers for ratchet trees: tree-validation.json (RFC 9420 §4.1.1, §7.8, §7.9).

For every node of each tree: its resolution and tree hash; for the whole tree: the
parent-hash validity and integrity a joiner checks, and every leaf's signature with
the case's group id as context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.ratchet_tree import RatchetTree

FILE = "tree-validation.json"


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    tree = RatchetTree.from_bytes(suite, bytes.fromhex(case["tree"]))
    group_id = bytes.fromhex(case["group_id"])
    if len(case["tree_hashes"]) != tree.width or len(case["resolutions"]) != tree.width:
        raise KatMismatch(f"tree-validation: the tree has {tree.width} nodes")
    for index, (tree_hash, resolution) in enumerate(
        zip(case["tree_hashes"], case["resolutions"], strict=True)
    ):
        if tree.resolution(index) != resolution:
            raise KatMismatch(f"tree-validation: resolution of node {index}")
        if tree.node_tree_hash(index) != bytes.fromhex(tree_hash):
            raise KatMismatch(f"tree-validation: tree hash of node {index}")
    tree.check_integrity()
    for leaf_index, leaf in tree.members():
        leaf.verify_signature(suite, group_id, leaf_index)
