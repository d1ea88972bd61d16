"""Known answers for tree changes: tree-operations.json (RFC 9420 §12.1.1-§12.1.3).

An Add, Update or Remove from ``proposal_sender`` is applied to ``tree_before``;
the result must encode to ``tree_after`` byte for byte and hash to
``tree_hash_after``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.wire.proposals import Add, Proposal, Remove, Update

FILE = "tree-operations.json"


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    tree = RatchetTree.from_bytes(suite, bytes.fromhex(case["tree_before"]))
    if tree.tree_hash() != bytes.fromhex(case["tree_hash_before"]):
        raise KatMismatch("tree-operations: tree hash before")
    body = Proposal.from_bytes(bytes.fromhex(case["proposal"])).body
    if isinstance(body, Add):
        tree.add_leaf(body.key_package.leaf_node)
    elif isinstance(body, Update):
        tree.update_leaf(int(case["proposal_sender"]), body.leaf_node)
    elif isinstance(body, Remove):
        tree.remove_leaf(body.removed)
    else:
        raise KatMismatch(f"tree-operations: unexpected {type(body).__name__} proposal")
    if bytes(tree) != bytes.fromhex(case["tree_after"]):
        raise KatMismatch("tree-operations: tree after")
    if tree.tree_hash() != bytes.fromhex(case["tree_hash_after"]):
        raise KatMismatch("tree-operations: tree hash after")
