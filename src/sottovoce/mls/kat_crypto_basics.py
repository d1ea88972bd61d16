"""Known answers for the labeled primitives: crypto-basics.json (RFC 9420 §5, §8, §9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.errors import KatMismatch, MLSError

FILE = "crypto-basics.json"


def _hex(value: Any) -> bytes:
    return bytes.fromhex(str(value))


def _expect(what: str, actual: bytes, expected: Any) -> None:
    if actual != _hex(expected):
        raise KatMismatch(f"crypto-basics: {what}")


def _check_signature(suite: CipherSuite, case: Mapping[str, Any]) -> None:
    label, content = str(case["label"]), _hex(case["content"])
    signature = _hex(case["signature"])
    suite.verify_with_label(_hex(case["pub"]), label, content, signature)
    key = suite.signature_key(_hex(case["priv"]))
    if key.public != _hex(case["pub"]):
        raise KatMismatch("crypto-basics: sign_with_label key pair")
    # Ed25519 is deterministic (RFC 8032 §5.1.6), so signing again gives the same bytes.
    _expect("sign_with_label", suite.sign_with_label(key, label, content), case["signature"])
    try:
        suite.verify_with_label(_hex(case["pub"]), label + "!", content, signature)
    except MLSError:
        return
    raise KatMismatch("crypto-basics: a signature verified under another label")


def _check_encryption(suite: CipherSuite, case: Mapping[str, Any]) -> None:
    label, context = str(case["label"]), _hex(case["context"])
    key_pair = suite.hpke_key_pair(_hex(case["priv"]))
    if key_pair.public != _hex(case["pub"]):
        raise KatMismatch("crypto-basics: encrypt_with_label key pair")
    plaintext = suite.decrypt_with_label(
        key_pair, label, context, _hex(case["kem_output"]), _hex(case["ciphertext"])
    )
    _expect("decrypt_with_label", plaintext, case["plaintext"])
    kem_output, ciphertext = suite.encrypt_with_label(key_pair.public, label, context, plaintext)
    again = suite.decrypt_with_label(key_pair, label, context, kem_output, ciphertext)
    _expect("encrypt_with_label round trip", again, case["plaintext"])


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))

    ref = case["ref_hash"]
    _expect("ref_hash", suite.ref_hash(str(ref["label"]).encode(), _hex(ref["value"])), ref["out"])

    expand = case["expand_with_label"]
    out = suite.expand_with_label(
        _hex(expand["secret"]), str(expand["label"]), _hex(expand["context"]), expand["length"]
    )
    _expect("expand_with_label", out, expand["out"])

    derive = case["derive_secret"]
    out = suite.derive_secret(_hex(derive["secret"]), str(derive["label"]))
    _expect("derive_secret", out, derive["out"])

    tree = case["derive_tree_secret"]
    out = suite.derive_tree_secret(
        _hex(tree["secret"]), str(tree["label"]), int(tree["generation"]), int(tree["length"])
    )
    _expect("derive_tree_secret", out, tree["out"])

    _check_signature(suite, case["sign_with_label"])
    _check_encryption(suite, case["encrypt_with_label"])
