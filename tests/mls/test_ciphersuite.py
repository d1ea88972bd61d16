"""Cipher suites 1 and 3: labeled signing, labeled encryption, references, bad inputs."""

from __future__ import annotations

import pytest

from sottovoce.crypto import hashing
from sottovoce.mls.ciphersuite import SUITES, CipherSuite, CipherSuiteId, cipher_suite
from sottovoce.mls.errors import CryptoFailure, ValidationError

ALL_SUITES = pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)


def test_suite_lookup_by_wire_value() -> None:
    assert cipher_suite(1).id is CipherSuiteId.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
    assert cipher_suite(3).aead_key_len == 32
    assert cipher_suite(1).aead_key_len == 16
    for unsupported in (0, 2, 4, 7, 0xFFFF):
        with pytest.raises(ValidationError, match=f"cipher suite {unsupported} is not"):
            cipher_suite(unsupported)


@ALL_SUITES
def test_signature_binds_label_content_and_key(suite: CipherSuite) -> None:
    key = suite.generate_signature_key()
    signature = suite.sign_with_label(key, "FramedContentTBS", b"content")
    suite.verify_with_label(key.public, "FramedContentTBS", b"content", signature)
    with pytest.raises(CryptoFailure, match="LeafNodeTBS signature"):
        suite.verify_with_label(key.public, "LeafNodeTBS", b"content", signature)
    with pytest.raises(CryptoFailure):
        suite.verify_with_label(key.public, "FramedContentTBS", b"content!", signature)
    other = suite.generate_signature_key()
    with pytest.raises(CryptoFailure):
        suite.verify_with_label(other.public, "FramedContentTBS", b"content", signature)
    with pytest.raises(CryptoFailure, match="64 bytes"):
        suite.verify_with_label(key.public, "FramedContentTBS", b"content", signature[:-1])
    with pytest.raises(CryptoFailure, match="public key"):
        suite.verify_with_label(key.public[:31], "FramedContentTBS", b"content", signature)


@ALL_SUITES
def test_labeled_encryption_binds_label_and_context(suite: CipherSuite) -> None:
    key_pair = suite.generate_hpke_key_pair()
    kem_output, ciphertext = suite.encrypt_with_label(key_pair.public, "Welcome", b"ctx", b"pt")
    assert suite.decrypt_with_label(key_pair, "Welcome", b"ctx", kem_output, ciphertext) == b"pt"
    with pytest.raises(CryptoFailure, match="UpdatePathNode decryption"):
        suite.decrypt_with_label(key_pair, "UpdatePathNode", b"ctx", kem_output, ciphertext)
    with pytest.raises(CryptoFailure):
        suite.decrypt_with_label(key_pair, "Welcome", b"other", kem_output, ciphertext)
    with pytest.raises(CryptoFailure, match="encapsulated key"):
        suite.decrypt_with_label(key_pair, "Welcome", b"ctx", kem_output[:-1], ciphertext)
    with pytest.raises(CryptoFailure, match="shorter than"):
        suite.decrypt_with_label(key_pair, "Welcome", b"ctx", kem_output, b"")
    with pytest.raises(CryptoFailure, match="public key"):
        suite.encrypt_with_label(b"\x01" * 31, "Welcome", b"ctx", b"pt")


def test_suites_1_and_3_encrypt_differently() -> None:
    suite1, suite3 = cipher_suite(1), cipher_suite(3)
    key_pair = suite1.generate_hpke_key_pair()
    kem_output, ciphertext = suite1.encrypt_with_label(key_pair.public, "Welcome", b"", b"pt")
    with pytest.raises(CryptoFailure):
        suite3.decrypt_with_label(key_pair, "Welcome", b"", kem_output, ciphertext)


@ALL_SUITES
def test_references_are_domain_separated(suite: CipherSuite) -> None:
    value = b"the same encoded bytes"
    refs = {
        suite.make_key_package_ref(value),
        suite.make_leaf_node_ref(value),
        suite.make_proposal_ref(value),
    }
    assert len(refs) == 3
    assert all(len(ref) == suite.hash_len for ref in refs)
    assert suite.make_key_package_ref(value) == suite.ref_hash(
        b"MLS 1.0 KeyPackage Reference", value
    )


@ALL_SUITES
def test_derive_hpke_key_pair_is_deterministic(suite: CipherSuite) -> None:
    secret = bytes(range(32))
    assert suite.derive_hpke_key_pair(secret).public == suite.derive_hpke_key_pair(secret).public
    assert suite.derive_hpke_key_pair(secret).public != suite.derive_hpke_key_pair(bytes(32)).public
    with pytest.raises(ValidationError, match="DeriveKeyPair"):
        suite.derive_hpke_key_pair(bytes(16))


@ALL_SUITES
def test_malformed_private_keys_are_typed_errors(suite: CipherSuite) -> None:
    with pytest.raises(ValidationError, match="HPKE private key"):
        suite.hpke_key_pair(bytes(31))
    with pytest.raises(ValidationError, match="signature private key"):
        suite.signature_key(b"")


@ALL_SUITES
def test_expand_with_label_length_bounds(suite: CipherSuite) -> None:
    assert len(suite.expand_with_label(bytes(32), "x", b"", 1)) == 1
    assert len(suite.expand_with_label(bytes(32), "x", b"", 255 * 32)) == 255 * 32
    for length in (0, 255 * 32 + 1):
        with pytest.raises(ValueError, match="ExpandWithLabel length"):
            suite.expand_with_label(bytes(32), "x", b"", length)


@ALL_SUITES
def test_aead_failures_name_what_was_opened(suite: CipherSuite) -> None:
    key, nonce = bytes(suite.aead_key_len), bytes(suite.aead_nonce_len)
    sealed = suite.aead_seal(key, nonce, b"aad", b"message")
    assert suite.aead_open(key, nonce, b"aad", sealed, "test message") == b"message"
    with pytest.raises(CryptoFailure, match="test message"):
        suite.aead_open(key, nonce, b"other", sealed, "test message")
    with pytest.raises(ValidationError, match="AEAD key"):
        suite.aead_seal(bytes(5), nonce, b"", b"")


def test_verify_mac_is_a_typed_failure() -> None:
    suite = cipher_suite(1)
    tag = suite.mac(b"key", b"data")
    suite.verify_mac(b"key", b"data", tag, "membership_tag")
    with pytest.raises(CryptoFailure, match="membership_tag does not verify"):
        suite.verify_mac(b"key", b"data", tag[:-1] + bytes([tag[-1] ^ 1]), "membership_tag")


@pytest.mark.parametrize("length", [1, 12, 16, 31, 32, 33, 64, 100])
def test_one_block_expand_matches_full_hkdf_expand(length: int) -> None:
    prk, info = bytes(range(32)), b"some KDFLabel"
    expected = hashing.hkdf_expand_sha256(prk, info, length)
    assert cipher_suite(1).expand(prk, info, length) == expected


@ALL_SUITES
def test_key_and_nonce_pair_equals_two_expansions(suite: CipherSuite) -> None:
    secret, context = bytes(range(32)), b"\x00\x00\x00\x07"
    key, nonce = suite.expand_key_and_nonce(secret, context, "key", "nonce")
    assert key == suite.expand_with_label(secret, "key", context, suite.aead_key_len)
    assert nonce == suite.expand_with_label(secret, "nonce", context, suite.aead_nonce_len)
