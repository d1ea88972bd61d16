"""Message framing: content authentication and message protection (RFC 9420 §6).

Signing (§6.1) covers the FramedContent, the wire format and, for members, the
GroupContext, so a signature is valid in exactly one group, epoch and encoding. A
PublicMessage adds a membership tag (§6.2) that only current members can compute.
A PrivateMessage (§6.3) encrypts the content under the sender's ratchet key and the
sender's identity under a key sampled from that ciphertext (§6.3.2).

The structures are :mod:`sottovoce.mls.wire.framing`'s (FramedContentTBS is
``wire.framing.framed_content_tbs``); this module holds the cryptography on them.
Every check raises a typed :class:`MLSError` naming the rule.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sottovoce.crypto import random, signing
from sottovoce.crypto.hashing import HmacSha256Key
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import encode_vector
from sottovoce.mls.errors import ValidationError
from sottovoce.mls.key_schedule import sender_data_key_and_nonce
from sottovoce.mls.secret_tree import RatchetKind, SecretTree
from sottovoce.mls.wire.framing import (
    REUSE_GUARD_LEN,
    FramedContentAuthData,
    PrivateMessage,
    SenderData,
)
from sottovoce.mls.wire.registry import ContentType, WireFormat

# §6.3.1 leaves the amount of padding to the application. Padding every plaintext
# to a multiple of 32 bytes hides exact lengths (a short reply and a two-word one
# look the same) for at most 31 bytes per message.
PADDING_BLOCK = 32


def ratchet_kind(content_type: ContentType) -> RatchetKind:
    """§6.3.1: application data uses the application ratchet, the rest handshake."""
    if content_type is ContentType.APPLICATION:
        return RatchetKind.APPLICATION
    return RatchetKind.HANDSHAKE


def check_wire_format(wire_format: WireFormat, content_type: ContentType) -> None:
    """§6: application data MUST travel as a PrivateMessage, never merely signed."""
    if wire_format is WireFormat.PUBLIC_MESSAGE and content_type is ContentType.APPLICATION:
        raise ValidationError("RFC 9420 §6: application data must be sent as a PrivateMessage")


# --- content authentication (§6.1, §6.2) -----------------------------------------------


def sign_content(suite: CipherSuite, key: signing.SigningKey, tbs: bytes) -> bytes:
    """§6.1: SignWithLabel(., "FramedContentTBS", FramedContentTBS)."""
    return suite.sign_with_label(key, "FramedContentTBS", tbs)


def verify_content(
    suite: CipherSuite, public: bytes | signing.VerifyingKey, tbs: bytes, signature: bytes
) -> None:
    """§6.1: VerifyWithLabel(., "FramedContentTBS", ...); raises CryptoFailure."""
    suite.verify_with_label(public, "FramedContentTBS", tbs, signature)


def membership_tag(
    suite: CipherSuite, membership_key: bytes, tbs: bytes, auth: FramedContentAuthData
) -> bytes:
    """§6.2: MAC(membership_key, AuthenticatedContentTBM{content_tbs, auth})."""
    return suite.mac(membership_key, tbs + bytes(auth))


def verify_membership_tag(
    suite: CipherSuite,
    membership_key: bytes,
    tbs: bytes,
    auth: FramedContentAuthData,
    tag: bytes,
) -> None:
    """§6.2: recompute the membership tag and compare in constant time."""
    suite.verify_mac(membership_key, tbs + bytes(auth), tag, "RFC 9420 §6.2: membership_tag")


# --- sender data and content encryption (§6.3) -------------------------------------


@dataclass(frozen=True, slots=True)
class PrivateHeader:
    """The cleartext fields of a PrivateMessage (§6.3); they are also what its two
    AEADs authenticate, so a ciphertext cannot be moved to another group, epoch or
    content type. Both AADs are encoded once, on construction: sealing and opening a
    message each use them twice."""

    group_id: bytes
    epoch: int
    content_type: ContentType
    authenticated_data: bytes
    # §6.3.2 SenderDataAAD: group_id<V>, uint64 epoch, uint8 content_type.
    sender_data_aad: bytes = field(init=False, repr=False, compare=False)
    # §6.3.1 PrivateContentAAD: the same fields, then authenticated_data<V>.
    content_aad: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sender_data_aad = b"".join(
            (
                encode_vector(self.group_id),
                self.epoch.to_bytes(8, "big"),
                self.content_type.to_bytes(1, "big"),
            )
        )
        object.__setattr__(self, "sender_data_aad", sender_data_aad)
        content_aad = sender_data_aad + encode_vector(self.authenticated_data)
        object.__setattr__(self, "content_aad", content_aad)

    @classmethod
    def of(cls, message: PrivateMessage) -> PrivateHeader:
        return cls(
            message.group_id, message.epoch, message.content_type, message.authenticated_data
        )


def _guarded_nonce(nonce: bytes, reuse_guard: bytes) -> bytes:
    """§6.3.1: XOR the reuse guard into the first four bytes of the ratchet nonce."""
    tail_bits = 8 * (len(nonce) - REUSE_GUARD_LEN)
    guarded = int.from_bytes(nonce, "big") ^ (int.from_bytes(reuse_guard, "big") << tail_bits)
    return guarded.to_bytes(len(nonce), "big")


@dataclass(frozen=True, slots=True)
class EncryptedContent:
    """The two encrypted fields of a PrivateMessage."""

    encrypted_sender_data: bytes
    ciphertext: bytes

    @classmethod
    def of(cls, message: PrivateMessage) -> EncryptedContent:
        return cls(message.encrypted_sender_data, message.ciphertext)


# §6.3.2 SenderData: uint32 leaf_index, uint32 generation, then the reuse guard.
_SENDER_DATA_HEAD = struct.Struct(">II")
_SENDER_DATA_LEN = _SENDER_DATA_HEAD.size + REUSE_GUARD_LEN


def padded(content_and_auth: bytes, padding_block: int = PADDING_BLOCK) -> bytes:
    """§6.3.1 PrivateMessageContent padding: zero bytes up to a multiple of the block."""
    return content_and_auth + bytes(-len(content_and_auth) % padding_block)


def encrypt_content(
    suite: CipherSuite,
    secret_tree: SecretTree,
    sender_data_secret: bytes | HmacSha256Key,
    *,
    leaf_index: int,
    header: PrivateHeader,
    plaintext: bytes,
    reuse_guard: bytes | None = None,
) -> EncryptedContent:
    """§6.3.1-§6.3.2: encrypt an encoded PrivateMessageContent from ``leaf_index``.

    The next key of the leaf's ratchet is used once; a fresh reuse guard protects the
    nonce should this state ever be restored from a stale copy. ``reuse_guard`` may be
    fixed only by tests that need a reproducible message.
    """
    key = secret_tree.next_key(leaf_index, ratchet_kind(header.content_type))
    guard = reuse_guard if reuse_guard is not None else random.random_bytes(REUSE_GUARD_LEN)
    sender_data = bytes(SenderData(leaf_index, key.generation, guard))
    ciphertext = suite.aead_seal(
        key.key, _guarded_nonce(key.nonce, guard), header.content_aad, plaintext
    )
    sd_key, sd_nonce = sender_data_key_and_nonce(suite, sender_data_secret, ciphertext)
    encrypted_sender_data = suite.aead_seal(sd_key, sd_nonce, header.sender_data_aad, sender_data)
    return EncryptedContent(encrypted_sender_data, ciphertext)


def decrypt_sender_data(
    suite: CipherSuite,
    sender_data_secret: bytes | HmacSha256Key,
    header: PrivateHeader,
    encrypted: EncryptedContent,
) -> SenderData:
    """§6.3.2: who sent a PrivateMessage, at which generation."""
    sd_key, sd_nonce = sender_data_key_and_nonce(suite, sender_data_secret, encrypted.ciphertext)
    sender_data = suite.aead_open(
        sd_key,
        sd_nonce,
        header.sender_data_aad,
        encrypted.encrypted_sender_data,
        "RFC 9420 §6.3.2: encrypted_sender_data",
    )
    if len(sender_data) != _SENDER_DATA_LEN:
        return SenderData.from_bytes(sender_data)  # raises the DecodeError naming the fault
    leaf_index, generation = _SENDER_DATA_HEAD.unpack_from(sender_data)
    return SenderData(leaf_index, generation, sender_data[_SENDER_DATA_HEAD.size :])


def decrypt_content(
    suite: CipherSuite,
    secret_tree: SecretTree,
    sender_data: SenderData,
    header: PrivateHeader,
    ciphertext: bytes,
) -> bytes:
    """§6.3.1: open the PrivateMessageContent with the sender's ratchet key.

    The caller has checked that ``sender_data.leaf_index`` names a non-blank leaf
    (§6.3.2). The key is erased only once the content authenticates, so a forged
    message cannot burn the key of the genuine one.
    """
    ratchet = secret_tree.ratchet(sender_data.leaf_index, ratchet_kind(header.content_type))
    key = ratchet.peek(sender_data.generation)
    plaintext = suite.aead_open(
        key.key,
        _guarded_nonce(key.nonce, sender_data.reuse_guard),
        header.content_aad,
        ciphertext,
        f"RFC 9420 §6.3.1: PrivateMessage content from leaf {sender_data.leaf_index}",
    )
    ratchet.consume(sender_data.generation)
    return plaintext
