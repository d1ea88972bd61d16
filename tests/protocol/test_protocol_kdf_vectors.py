"""Known-answer tests for every key derivation of PQXDH and the Double Ratchet.

Each derivation is checked twice: against the spec's formula recomputed here from
HMAC-SHA-256 alone (RFC 5869 §2.2-§2.3 written out by hand), and against frozen
hex values computed once with Python's stdlib ``hmac``, so a change of info
string, constant or byte order cannot pass unnoticed.
"""

from __future__ import annotations

from sottovoce.crypto import aead, dh, hashing, kem
from sottovoce.protocol import pqxdh, ratchet
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import KemPreKey, OneTimePreKey, SignedPreKey

CHAIN_KEY = bytes(range(32))
ROOT_KEY = bytes(range(32))
DH_OUT = bytes(range(32, 64))
MESSAGE_KEY = bytes(range(64, 96))
KEY_MATERIAL = bytes(range(96, 256))


def hkdf_by_hand(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    prk = hashing.hmac_sha256(salt, ikm)
    return hkdf_expand_by_hand(prk, info, length)


def hkdf_expand_by_hand(prk: bytes, info: bytes, length: int) -> bytes:
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hashing.hmac_sha256(prk, block + info + bytes([counter]))
        okm += block
        counter += 1
    return okm[:length]


def test_kdf_ck_matches_spec_constants() -> None:
    next_chain, message_key = ratchet.kdf_ck(CHAIN_KEY)
    assert message_key == hashing.hmac_sha256(CHAIN_KEY, b"\x01")
    assert next_chain == hashing.hmac_sha256(CHAIN_KEY, b"\x02")
    assert ratchet.next_chain_key(CHAIN_KEY) == next_chain
    assert message_key.hex() == "9b4c8120a4823a95f47cde17a244f4507244ee6e3957d1fab9fa29b44d3829b7"
    assert next_chain.hex() == "4304c22c84a53755ab08ead8d97a8d429be5efa480682d7ad1da27f73e1fbe1d"


def test_kdf_rk_is_hkdf_with_root_key_as_salt() -> None:
    root, chain = ratchet.kdf_rk(ROOT_KEY, DH_OUT)
    expected = hkdf_by_hand(ROOT_KEY, DH_OUT, b"Sottovoce_Ratchet_RootKey", 64)
    assert root + chain == expected
    assert root.hex() == "a1cad2099a61db1fe8375fd0bd359cd43659dfc41d08b77d17b0593b9d7c191b"
    assert chain.hex() == "3c3347265c3e1997383d2c69d1a2f37eae22548b751c4ae32a910667c703a03b"


def test_message_key_expands_to_aes_key_and_nonce() -> None:
    cipher, nonce = ratchet.message_cipher(MESSAGE_KEY)
    okm = hkdf_expand_by_hand(MESSAGE_KEY, b"Sottovoce_Ratchet_MessageKeys", 44)
    assert nonce == okm[32:]
    assert nonce.hex() == "b473bc6ae1465082174a927e"
    key = okm[:32]
    assert key.hex() == "597753dc2b2dd897d6a4de929f3af1e94b7f2cebd110c68a9746a97cb79d2b9e"
    assert cipher.name == "AES-256-GCM"
    sealed = cipher.seal(nonce, b"plaintext", b"ad")
    assert sealed == aead.aes_gcm(key).seal(nonce, b"plaintext", b"ad")


def test_pqxdh_kdf_prefixes_f_and_uses_zero_salt() -> None:
    expected = hkdf_by_hand(bytes(32), b"\xff" * 32 + KEY_MATERIAL, pqxdh.INFO, 32)
    assert pqxdh.kdf(KEY_MATERIAL) == expected
    assert expected.hex() == "40d5b48f336bb3cf636d818ec097fc19cc65ce14d725e437568d67ee219546e6"
    assert pqxdh.INFO == b"Sottovoce_CURVE25519_SHA-256_ML-KEM-1024"


def _fixed_key(byte: int) -> dh.DHKeyPair:
    return dh.DHKeyPair.from_bytes(bytes([byte]) * 32)


def test_pqxdh_responder_secret_follows_the_spec_formula() -> None:
    """§3.4 from fixed keys: SK = KDF(DH1 || DH2 || DH3 || DH4 || SS), each DH from Alice's side."""
    alice = IdentityKeyPair(IdentityKeyPair.generate().signing_key, _fixed_key(1))
    bob = IdentityKeyPair(IdentityKeyPair.generate().signing_key, _fixed_key(2))
    signed = SignedPreKey(1, _fixed_key(3), bytes(64))
    one_time = OneTimePreKey(2, _fixed_key(4))
    ephemeral = _fixed_key(5)
    kem_key = KemPreKey(3, kem.KemKeyPair.from_bytes(bytes(range(64))), bytes(64), False)
    ciphertext, kem_secret = kem.encapsulate(kem_key.public)

    for used_one_time in (one_time, None):
        secret = pqxdh.respond(
            bob, alice.public, ephemeral.public, signed, used_one_time, kem_key, ciphertext
        )
        key_material = (
            alice.dh_key.exchange(signed.public)  # DH1 = DH(IK_A, SPK_B)
            + ephemeral.exchange(bob.dh_key.public)  # DH2 = DH(EK_A, IK_B)
            + ephemeral.exchange(signed.public)  # DH3 = DH(EK_A, SPK_B)
            + (b"" if used_one_time is None else ephemeral.exchange(one_time.public))
            + kem_secret
        )
        assert secret == hkdf_by_hand(bytes(32), b"\xff" * 32 + key_material, pqxdh.INFO, 32)


def test_associated_data_is_initiator_then_responder_identity() -> None:
    a, b = IdentityKeyPair.generate().public, IdentityKeyPair.generate().public
    assert pqxdh.associated_data(a, b) == a.to_bytes() + b.to_bytes()
    assert len(pqxdh.associated_data(a, b)) == 2 * 129
