"""HPKE base mode (sottovoce.crypto.hpke) against RFC 9180 Appendix A, and its failures.

The vectors are typed from RFC 9180 Appendix A.1.1 (DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256, AES-128-GCM) and A.2.1 (the same with ChaCha20Poly1305), base mode.
Appendix A has no X25519 vector for AES-256-GCM; that AEAD is covered by round trips
and by checking it keys a 32-byte AES key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.crypto import hpke
from sottovoce.crypto.errors import DecryptionFailed, InvalidKey


@dataclass(frozen=True)
class AppendixVector:
    aead_id: hpke.AeadId
    ikm_e: str
    sk_em: str
    pk_em: str
    ikm_r: str
    sk_rm: str
    pk_rm: str
    key: str
    base_nonce: str
    # sequence number -> ciphertext of PT with aad "Count-<seq>"
    ciphertexts: dict[int, str]
    # exporter_context -> 32-byte exported value
    exports: dict[str, str]


INFO = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")  # "Ode on a Grecian Urn"
PT = bytes.fromhex("4265617574792069732074727574682c20747275746820626561757479")

A_1_1 = AppendixVector(
    aead_id=hpke.AeadId.AES_128_GCM,
    ikm_e="7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
    sk_em="52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
    pk_em="37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    ikm_r="6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
    sk_rm="4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    pk_rm="3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
    key="4531685d41d65f03dc48f6b8302c05b0",
    base_nonce="56d890e5accaaf011cff4b7d",
    ciphertexts={
        0: "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a9"
        "6d8770ac83d07bea87e13c512a",
        1: "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab25"
        "1c03d0c22a56b8ca42c2063b84",
        2: "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb7251649158"
        "8d96a19ad4a683518973dcc180",
        4: "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a"
        "09fc0012bc69fccaa251c0246d",
        255: "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505b"
        "f106deefec4a49ac38d71c9e0a",
        256: "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3"
        "fbeda97d2e0e1aba483a2df9f2",
    },
    exports={
        "": "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee",
        "00": "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5",
        "54657374436f6e74657874": "e9e43065102c3836401bed8c3c3c75ae"
        "46be1639869391d62c61f1ec7af54931",
    },
)

A_2_1 = AppendixVector(
    aead_id=hpke.AeadId.CHACHA20_POLY1305,
    ikm_e="909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b",
    sk_em="f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
    pk_em="1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    ikm_r="1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
    sk_rm="8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    pk_rm="4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
    key="ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91",
    base_nonce="5c4d98150661b848853b547f",
    ciphertexts={
        0: "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db"
        "21993c62ce81883d2dd1b51a28",
        1: "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e"
        "85285337cc95ba5f59992dc98c",
        2: "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02"
        "b4f10ecac6f48c32f878fae86b",
        4: "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122b"
        "b153495ff0b02e9e54a50dbe16",
        255: "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b888"
        "0a5f6b3936da9cd6c23ef2a95c",
        256: "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076"
        "214c0c40d4c728d6ed9e727a5b",
    },
    exports={
        "": "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e",
        "00": "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69",
        "54657374436f6e74657874": "5acb09211139c43b3090489a9da433e8"
        "a30ee7188ba8b0a9a1ccf0c229283e53",
    },
)

APPENDIX = pytest.mark.parametrize("vector", [A_1_1, A_2_1], ids=["A.1.1", "A.2.1"])


def aad(seq: int) -> bytes:
    return f"Count-{seq}".encode()


@APPENDIX
def test_derive_key_pair_reproduces_appendix_keys(vector: AppendixVector) -> None:
    ephemeral = hpke.derive_key_pair(bytes.fromhex(vector.ikm_e))
    recipient = hpke.derive_key_pair(bytes.fromhex(vector.ikm_r))
    assert ephemeral.private_bytes().hex() == vector.sk_em
    assert ephemeral.public.hex() == vector.pk_em
    assert recipient.private_bytes().hex() == vector.sk_rm
    assert recipient.public.hex() == vector.pk_rm


@APPENDIX
def test_sender_and_recipient_reproduce_appendix_encryptions(vector: AppendixVector) -> None:
    ephemeral = hpke.derive_key_pair(bytes.fromhex(vector.ikm_e))
    recipient = hpke.derive_key_pair(bytes.fromhex(vector.ikm_r))
    enc, sender = hpke.setup_base_sender(
        vector.aead_id, recipient.public, INFO, ephemeral=ephemeral
    )
    assert enc.hex() == vector.pk_em
    receiver = hpke.setup_base_recipient(vector.aead_id, enc, recipient, INFO)
    for seq in range(max(vector.ciphertexts) + 1):
        assert sender.sequence_number == seq
        ciphertext = sender.seal(aad(seq), PT)
        if seq in vector.ciphertexts:
            assert ciphertext.hex() == vector.ciphertexts[seq], seq
        assert receiver.open(aad(seq), ciphertext) == PT


@APPENDIX
def test_both_sides_reproduce_appendix_exports(vector: AppendixVector) -> None:
    recipient = hpke.derive_key_pair(bytes.fromhex(vector.ikm_r))
    ephemeral = hpke.derive_key_pair(bytes.fromhex(vector.ikm_e))
    enc, sender = hpke.setup_base_sender(
        vector.aead_id, recipient.public, INFO, ephemeral=ephemeral
    )
    receiver = hpke.setup_base_recipient(vector.aead_id, enc, recipient, INFO)
    for context, expected in vector.exports.items():
        assert sender.export(bytes.fromhex(context), 32).hex() == expected
        assert receiver.export(bytes.fromhex(context), 32).hex() == expected


@APPENDIX
def test_single_shot_open_of_the_first_appendix_ciphertext(vector: AppendixVector) -> None:
    recipient = hpke.derive_key_pair(bytes.fromhex(vector.ikm_r))
    ciphertext = bytes.fromhex(vector.ciphertexts[0])
    enc = bytes.fromhex(vector.pk_em)
    assert hpke.open_base(vector.aead_id, enc, recipient, INFO, aad(0), ciphertext) == PT


@settings(max_examples=25, deadline=None)
@given(
    aead_id=st.sampled_from(list(hpke.AeadId)),
    info=st.binary(max_size=64),
    associated=st.binary(max_size=64),
    plaintext=st.binary(max_size=512),
)
def test_single_shot_round_trip(
    aead_id: hpke.AeadId, info: bytes, associated: bytes, plaintext: bytes
) -> None:
    recipient = hpke.generate_key_pair()
    enc, ciphertext = hpke.seal_base(aead_id, recipient.public, info, associated, plaintext)
    assert len(ciphertext) == len(plaintext) + 16
    assert hpke.open_base(aead_id, enc, recipient, info, associated, ciphertext) == plaintext


def test_aes_256_gcm_uses_a_32_byte_key_and_differs_from_aes_128() -> None:
    recipient = hpke.derive_key_pair(bytes.fromhex(A_1_1.ikm_r))
    ephemeral = hpke.derive_key_pair(bytes.fromhex(A_1_1.ikm_e))
    sealed = {
        aead_id: hpke.seal_base(aead_id, recipient.public, INFO, b"", PT, ephemeral=ephemeral)[1]
        for aead_id in (hpke.AeadId.AES_128_GCM, hpke.AeadId.AES_256_GCM)
    }
    assert sealed[hpke.AeadId.AES_128_GCM] != sealed[hpke.AeadId.AES_256_GCM]
    assert hpke.AeadId.AES_256_GCM.key_len == 32
    with pytest.raises(InvalidKey):
        hpke.AeadId.AES_256_GCM.keyed(bytes(16))


@pytest.mark.parametrize(
    ("what", "info", "associated"),
    [("info", b"other info", b"aad"), ("aad", b"info", b"other aad")],
)
def test_open_fails_when_info_or_aad_differ(what: str, info: bytes, associated: bytes) -> None:
    recipient = hpke.generate_key_pair()
    enc, ciphertext = hpke.seal_base(hpke.AeadId.AES_128_GCM, recipient.public, b"info", b"aad", PT)
    with pytest.raises(DecryptionFailed):
        hpke.open_base(hpke.AeadId.AES_128_GCM, enc, recipient, info, associated, ciphertext)


def test_open_fails_for_another_recipient_or_a_flipped_bit() -> None:
    recipient, other = hpke.generate_key_pair(), hpke.generate_key_pair()
    enc, ciphertext = hpke.seal_base(hpke.AeadId.CHACHA20_POLY1305, recipient.public, b"", b"", PT)
    with pytest.raises(DecryptionFailed):
        hpke.open_base(hpke.AeadId.CHACHA20_POLY1305, enc, other, b"", b"", ciphertext)
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    with pytest.raises(DecryptionFailed):
        hpke.open_base(hpke.AeadId.CHACHA20_POLY1305, enc, recipient, b"", b"", flipped)


def test_failed_open_does_not_advance_the_sequence() -> None:
    recipient = hpke.generate_key_pair()
    enc, sender = hpke.setup_base_sender(hpke.AeadId.AES_128_GCM, recipient.public, b"")
    receiver = hpke.setup_base_recipient(hpke.AeadId.AES_128_GCM, enc, recipient, b"")
    ciphertext = sender.seal(b"", PT)
    with pytest.raises(DecryptionFailed):
        receiver.open(b"wrong", ciphertext)
    assert receiver.sequence_number == 0
    assert receiver.open(b"", ciphertext) == PT
    assert receiver.sequence_number == 1


@pytest.mark.parametrize("length", [0, 31, 33])
def test_malformed_encapsulated_key_is_rejected(length: int) -> None:
    with pytest.raises(InvalidKey, match="encapsulated key"):
        hpke.decap(bytes(length), hpke.generate_key_pair())


def test_small_order_encapsulated_key_is_rejected() -> None:
    # The all-zero u-coordinate has small order: X25519 would output all zeros.
    with pytest.raises(InvalidKey, match="small-order"):
        hpke.decap(bytes(32), hpke.generate_key_pair())
    with pytest.raises(InvalidKey):
        hpke.encap(bytes(32))


def test_short_derive_key_pair_input_is_rejected() -> None:
    with pytest.raises(InvalidKey, match="at least 32 bytes"):
        hpke.derive_key_pair(bytes(31))


def test_sequence_number_exhaustion_stops_sealing() -> None:
    recipient = hpke.generate_key_pair()
    _, sender = hpke.setup_base_sender(hpke.AeadId.AES_128_GCM, recipient.public, b"")
    # §5.2: the last representable sequence number, 2^96 - 1, is never used.
    sender._seq = (1 << 96) - 1
    with pytest.raises(hpke.MessageLimitReached):
        sender.seal(b"", PT)


@pytest.mark.parametrize("length", [0, hpke.MAX_EXPORT_LEN + 1])
def test_export_length_is_bounded(length: int) -> None:
    _, sender = hpke.setup_base_sender(
        hpke.AeadId.AES_128_GCM, hpke.generate_key_pair().public, b""
    )
    with pytest.raises(ValueError, match="export length"):
        sender.export(b"", length)


def test_repr_shows_no_secret() -> None:
    recipient = hpke.derive_key_pair(bytes.fromhex(A_1_1.ikm_r))
    ephemeral = hpke.derive_key_pair(bytes.fromhex(A_1_1.ikm_e))
    _, sender = hpke.setup_base_sender(
        hpke.AeadId.AES_128_GCM, recipient.public, INFO, ephemeral=ephemeral
    )
    text = repr(sender)
    assert text == "SenderContext(AES_128_GCM, seq=0)"
    assert A_1_1.key not in text and A_1_1.base_nonce not in text
