"""Known answers for the secret tree: secret-tree.json (RFC 9420 §9, §6.3.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.key_schedule import sender_data_key_and_nonce
from sottovoce.mls.secret_tree import RatchetKind, SecretTree

FILE = "secret-tree.json"


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    sender_data = case["sender_data"]
    key, nonce = sender_data_key_and_nonce(
        suite,
        bytes.fromhex(sender_data["sender_data_secret"]),
        bytes.fromhex(sender_data["ciphertext"]),
    )
    if key != bytes.fromhex(sender_data["key"]) or nonce != bytes.fromhex(sender_data["nonce"]):
        raise KatMismatch("secret-tree: sender data key or nonce")

    leaves = case["leaves"]
    tree = SecretTree(suite, bytes.fromhex(case["encryption_secret"]), len(leaves))
    for leaf, generations in enumerate(leaves):
        for expected in generations:
            generation = int(expected["generation"])
            for kind in RatchetKind:
                got = tree.key_for(leaf, kind, generation)
                if got.key != bytes.fromhex(expected[f"{kind.value}_key"]):
                    raise KatMismatch(f"secret-tree: leaf {leaf} {kind.value} key @{generation}")
                if got.nonce != bytes.fromhex(expected[f"{kind.value}_nonce"]):
                    raise KatMismatch(f"secret-tree: leaf {leaf} {kind.value} nonce @{generation}")
