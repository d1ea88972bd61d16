"""Message framing (RFC 9420 §6): signatures, membership tags, PrivateMessage encryption.

The application-data PrivateMessage of the official message-protection vectors is
opened here byte for byte: its content needs no Proposal or Commit decoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sottovoce.mls import framing
from sottovoce.mls.ciphersuite import SUITES, CipherSuite, cipher_suite
from sottovoce.mls.errors import CryptoFailure, DecodeError, GenerationUnavailable
from sottovoce.mls.framing import EncryptedContent, PrivateHeader
from sottovoce.mls.secret_tree import SecretTree
from sottovoce.mls.wire.framing import (
    FramedContent,
    FramedContentAuthData,
    PrivateMessage,
    PrivateMessageContent,
    Sender,
    SenderData,
    framed_content_tbs,
)
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.registry import ContentType, SenderType, WireFormat

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "mls-test-vectors"
ALL_SUITES = pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)
GROUP_ID, EPOCH = b"group", 7
SENDER_DATA_SECRET = bytes(range(32))
ENCRYPTION_SECRET = bytes(range(32, 64))


def protection_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / "message-protection.json").read_text())
    return cases


def group_context(case: dict[str, Any]) -> bytes:
    """§8.1 GroupContext with empty extensions, from the vector's fields."""
    context = GroupContext(
        case["cipher_suite"],
        bytes.fromhex(case["group_id"]),
        case["epoch"],
        bytes.fromhex(case["tree_hash"]),
        bytes.fromhex(case["confirmed_transcript_hash"]),
    )
    return bytes(context)


def member_application_content(
    group_id: bytes, epoch: int, leaf: int, ad: bytes, data: bytes
) -> FramedContent:
    """§6 FramedContent from a member carrying application data."""
    return FramedContent(group_id, epoch, Sender.member(leaf), ad, data)


@pytest.mark.parametrize("case", protection_cases(), ids=lambda c: f"suite{c['cipher_suite']}")
def test_official_application_private_message_opens_and_verifies(case: dict[str, Any]) -> None:
    suite = cipher_suite(case["cipher_suite"])
    message = MLSMessage.from_bytes(bytes.fromhex(case["application_priv"])).body
    assert isinstance(message, PrivateMessage)
    group_id, epoch = message.group_id, message.epoch
    authenticated_data = message.authenticated_data
    encrypted = EncryptedContent.of(message)

    header = PrivateHeader.of(message)
    sender = framing.decrypt_sender_data(
        suite, bytes.fromhex(case["sender_data_secret"]), header, encrypted
    )
    assert sender.leaf_index == 1
    tree = SecretTree(suite, bytes.fromhex(case["encryption_secret"]), 2)
    plaintext = framing.decrypt_content(suite, tree, sender, header, encrypted.ciphertext)
    content = PrivateMessageContent.from_bytes(plaintext, ContentType.APPLICATION)
    application_data, signature = content.content, content.auth.signature
    assert isinstance(application_data, bytes)
    assert application_data == bytes.fromhex(case["application"])

    framed = member_application_content(group_id, epoch, 1, authenticated_data, application_data)
    tbs = framed_content_tbs(WireFormat.PRIVATE_MESSAGE, framed, group_context(case))
    framing.verify_content(suite, bytes.fromhex(case["signature_pub"]), tbs, signature)
    with pytest.raises(CryptoFailure):
        public_tbs = framed_content_tbs(WireFormat.PUBLIC_MESSAGE, framed, group_context(case))
        framing.verify_content(suite, bytes.fromhex(case["signature_pub"]), public_tbs, signature)


def encrypt(
    suite: CipherSuite, tree: SecretTree, plaintext: bytes, *, leaf: int = 1, ad: bytes = b"ad"
) -> EncryptedContent:
    return framing.encrypt_content(
        suite,
        tree,
        SENDER_DATA_SECRET,
        leaf_index=leaf,
        header=PrivateHeader(GROUP_ID, EPOCH, ContentType.APPLICATION, ad),
        plaintext=plaintext,
    )


def decrypt(
    suite: CipherSuite, tree: SecretTree, encrypted: EncryptedContent, *, ad: bytes = b"ad"
) -> tuple[SenderData, bytes]:
    header = PrivateHeader(GROUP_ID, EPOCH, ContentType.APPLICATION, ad)
    sender = framing.decrypt_sender_data(suite, SENDER_DATA_SECRET, header, encrypted)
    plaintext = framing.decrypt_content(suite, tree, sender, header, encrypted.ciphertext)
    return sender, plaintext


@ALL_SUITES
def test_private_content_round_trip_in_any_order(suite: CipherSuite) -> None:
    sender_tree = SecretTree(suite, ENCRYPTION_SECRET, 4)
    receiver_tree = SecretTree(suite, ENCRYPTION_SECRET, 4)
    messages = [encrypt(suite, sender_tree, f"message {i}".encode()) for i in range(3)]
    for index in (2, 0, 1):
        sender, plaintext = decrypt(suite, receiver_tree, messages[index])
        assert (sender.leaf_index, sender.generation) == (1, index)
        assert plaintext == f"message {index}".encode()


def test_replayed_private_content_is_refused() -> None:
    suite = cipher_suite(1)
    sender_tree, receiver_tree = (SecretTree(suite, ENCRYPTION_SECRET, 4) for _ in range(2))
    message = encrypt(suite, sender_tree, b"once")
    decrypt(suite, receiver_tree, message)
    with pytest.raises(GenerationUnavailable, match="generation 0 was already used"):
        decrypt(suite, receiver_tree, message)


def test_tampered_content_fails_without_burning_the_key() -> None:
    suite = cipher_suite(3)
    sender_tree, receiver_tree = (SecretTree(suite, ENCRYPTION_SECRET, 4) for _ in range(2))
    genuine = encrypt(suite, sender_tree, b"genuine")
    with pytest.raises(CryptoFailure, match="content from leaf 1"):
        decrypt(suite, receiver_tree, genuine, ad=b"forged ad")
    assert decrypt(suite, receiver_tree, genuine)[1] == b"genuine"


def test_tampered_sender_data_is_refused() -> None:
    suite = cipher_suite(1)
    message = encrypt(suite, SecretTree(suite, ENCRYPTION_SECRET, 4), b"x")
    flipped = bytes([message.encrypted_sender_data[0] ^ 1]) + message.encrypted_sender_data[1:]
    with pytest.raises(CryptoFailure, match="encrypted_sender_data"):
        decrypt(
            suite,
            SecretTree(suite, ENCRYPTION_SECRET, 4),
            EncryptedContent(flipped, message.ciphertext),
        )
    # The sender-data key is bound to the content ciphertext it samples.
    other = encrypt(suite, SecretTree(suite, ENCRYPTION_SECRET, 4), b"y")
    swapped = EncryptedContent(message.encrypted_sender_data, other.ciphertext)
    with pytest.raises(CryptoFailure, match="encrypted_sender_data"):
        decrypt(suite, SecretTree(suite, ENCRYPTION_SECRET, 4), swapped)


def test_reuse_guard_changes_the_nonce() -> None:
    suite = cipher_suite(1)
    ciphertexts = set()
    for guard in (b"\x00\x00\x00\x00", b"\x00\x00\x00\x01"):
        tree = SecretTree(suite, ENCRYPTION_SECRET, 4)
        message = framing.encrypt_content(
            suite,
            tree,
            SENDER_DATA_SECRET,
            leaf_index=0,
            header=PrivateHeader(GROUP_ID, EPOCH, ContentType.COMMIT, b""),
            plaintext=b"same plaintext, same key",
            reuse_guard=guard,
        )
        ciphertexts.add(message.ciphertext)
    assert len(ciphertexts) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(11), "SenderData.reuse_guard"),
        (bytes(13), "SenderData: 1 trailing bytes"),
        (b"", "SenderData.leaf_index"),
    ],
)
def test_malformed_sender_data_is_a_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        SenderData.from_bytes(data)


def test_sender_data_encoding() -> None:
    encoded = bytes(SenderData(5, 258, b"\xaa\xbb\xcc\xdd"))
    assert encoded.hex() == "0000000500000102aabbccdd"
    assert SenderData.from_bytes(encoded) == SenderData(5, 258, b"\xaa\xbb\xcc\xdd")
    with pytest.raises(ValueError, match="reuse_guard must be 4 bytes"):
        SenderData(0, 0, b"abc")


def test_padding_fills_to_the_block_with_zeros_and_is_checked() -> None:
    assert framing.padded(b"x" * 32) == b"x" * 32
    assert framing.padded(b"x" * 33) == b"x" * 33 + bytes(31)
    assert framing.padded(b"") == b""
    content = bytes(PrivateMessageContent(b"hi", FramedContentAuthData(b"sig")))
    decoded = PrivateMessageContent.from_bytes(framing.padded(content), ContentType.APPLICATION)
    assert decoded.padding == 32 - len(content)
    with pytest.raises(DecodeError, match="padding is not all zeros"):
        PrivateMessageContent.from_bytes(content + bytes(10) + b"\x01", ContentType.APPLICATION)


@ALL_SUITES
def test_membership_tag_and_signature_bind_the_content(suite: CipherSuite) -> None:
    key = suite.generate_signature_key()
    content = member_application_content(GROUP_ID, EPOCH, 0, b"", b"hello")
    tbs = framed_content_tbs(WireFormat.PUBLIC_MESSAGE, content, b"context")
    signature = framing.sign_content(suite, key, tbs)
    auth = FramedContentAuthData(signature)
    membership_key = bytes(32)
    tag = framing.membership_tag(suite, membership_key, tbs, auth)
    framing.verify_membership_tag(suite, membership_key, tbs, auth, tag)
    with pytest.raises(CryptoFailure, match=r"§6\.2: membership_tag"):
        framing.verify_membership_tag(suite, bytes(31) + b"\x01", tbs, auth, tag)
    other_context = framed_content_tbs(WireFormat.PUBLIC_MESSAGE, content, b"other")
    with pytest.raises(CryptoFailure):
        framing.verify_content(suite, key.public, other_context, signature)
    framing.verify_content(suite, key.public, tbs, signature)


def test_auth_data_encoding_carries_the_tag_only_for_commits() -> None:
    assert bytes(FramedContentAuthData(b"sig")).hex() == "03" + b"sig".hex()
    tagged = FramedContentAuthData(b"sig", b"tag")
    assert bytes(tagged).hex() == "03" + b"sig".hex() + "03" + b"tag".hex()
    content = FramedContent(b"g", 0, Sender(SenderType.NEW_MEMBER_PROPOSAL), b"", b"x")
    external = framed_content_tbs(WireFormat.PUBLIC_MESSAGE, content, None)
    assert external == b"\x00\x01\x00\x01" + bytes(content)
