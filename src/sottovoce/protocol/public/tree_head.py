"""The log's signed tree head: one per epoch, the only thing a client has to trust.

A head commits the log operator to the whole log at one size (RFC 9162 §4.10's
signed tree head, reduced to what Sottovoce needs). Clients keep the newest head
they have seen and accept a newer one only with a consistency proof, so a log
that rewrites history, or shows different histories to different people, has to
sign two heads that contradict each other: evidence anyone can check.

Layout (all integers big-endian)::

    "SVTH" | u8 format=1 | u64 epoch | u64 timestamp_ms | u64 tree_size | 32-byte root |
    64-byte Ed25519 signature by the log key over _CONTEXT + everything before it
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sottovoce.crypto import signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.merkle import (
    HASH_LEN,
    MAX_TREE_SIZE,
    ConsistencyProof,
    InclusionProof,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

_MAGIC = b"SVTH"
_FORMAT = 1
# Signatures by the log key over anything else can never pass for a tree head.
_CONTEXT = b"Sottovoce tree head v1\x00"
_BODY = struct.Struct(">4sBQQQ32s")
SIGNED_TREE_HEAD_LEN = _BODY.size + signing.SIGNATURE_LEN
# Epochs and timestamps are u64 on the wire.
MAX_EPOCH = 2**64 - 1
MAX_TIMESTAMP_MS = 2**64 - 1


class ForkedLog(VerificationError):
    """Two heads signed by the log key cannot both describe one append-only log.

    Unlike a bad proof (which may be a transport fault) this is evidence: the
    two signed heads together prove the operator equivocated or rolled back.
    """


@dataclass(frozen=True, slots=True)
class TreeHead:
    """What the log signs: the root of the tree of ``tree_size`` leaves at one epoch."""

    epoch: int
    timestamp_ms: int
    tree_size: int
    root_hash: bytes

    def signed_body(self) -> bytes:
        if len(self.root_hash) != HASH_LEN:
            raise ValueError(f"a root hash is {HASH_LEN} bytes")
        if not 0 <= self.tree_size <= MAX_TREE_SIZE:
            raise ValueError("tree size does not fit in 64 bits")
        if not 0 <= self.epoch <= MAX_EPOCH or not 0 <= self.timestamp_ms <= MAX_TIMESTAMP_MS:
            raise ValueError("epoch and timestamp must fit in 64 bits")
        return _BODY.pack(
            _MAGIC, _FORMAT, self.epoch, self.timestamp_ms, self.tree_size, self.root_hash
        )

    def sign(self, log_key: signing.SigningKey) -> SignedTreeHead:
        return SignedTreeHead(self, log_key.sign(_CONTEXT + self.signed_body()))


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A tree head with the log's signature; obtained only by signing or by a verifying parse."""

    head: TreeHead
    signature: bytes

    @property
    def epoch(self) -> int:
        return self.head.epoch

    @property
    def timestamp_ms(self) -> int:
        return self.head.timestamp_ms

    @property
    def tree_size(self) -> int:
        return self.head.tree_size

    @property
    def root_hash(self) -> bytes:
        return self.head.root_hash

    def to_bytes(self) -> bytes:
        return self.head.signed_body() + self.signature

    def describe(self) -> str:
        """The head in a few words, for alerts that name the heads they hold as evidence."""
        return f"epoch {self.epoch} ({self.tree_size} entries, root {self.root_hash.hex()[:16]}…)"

    def verify_inclusion(self, leaf: bytes, proof: InclusionProof) -> None:
        """Check that the log entry ``leaf`` (its encoded bytes) is in the tree this head signs."""
        if proof.tree_size != self.tree_size:
            raise ProofError(
                f"inclusion proof is for a tree of size {proof.tree_size}, "
                f"the head signs size {self.tree_size}"
            )
        verify_inclusion(leaf_hash(leaf), proof, self.root_hash)


def parse_signed_tree_head(data: bytes, log_key: bytes) -> SignedTreeHead:
    """Parse a signed tree head and verify its signature by the log's Ed25519 key."""
    if len(data) != SIGNED_TREE_HEAD_LEN:
        raise DecodeError(f"signed tree head must be {SIGNED_TREE_HEAD_LEN} bytes, got {len(data)}")
    magic, fmt, epoch, timestamp_ms, tree_size, root_hash = _BODY.unpack_from(data)
    if magic != _MAGIC:
        raise DecodeError("signed tree head has the wrong magic")
    if fmt != _FORMAT:
        raise DecodeError(f"unknown signed tree head format {fmt}")
    signature = data[_BODY.size :]
    try:
        signing.verify(log_key, signature, _CONTEXT + data[: _BODY.size])
    except CryptoError as exc:
        raise VerificationError("signed tree head signature does not verify") from exc
    return SignedTreeHead(TreeHead(epoch, timestamp_ms, tree_size, root_hash), signature)


def verify_consistent_heads(a: SignedTreeHead, b: SignedTreeHead, proof: ConsistencyProof) -> None:
    """Check that two verified heads describe one append-only log, in either order.

    A later epoch must not have fewer leaves or an earlier time, one epoch has
    exactly one head (:class:`ForkedLog` otherwise), and ``proof`` must prove
    the larger tree extends the smaller (RFC 9162 §2.1.4.2; :class:`ProofError`).
    """
    old, new = (a, b) if a.epoch <= b.epoch else (b, a)
    if old.epoch == new.epoch and old.head != new.head:
        raise ForkedLog(f"the log signed two different heads for epoch {old.epoch}")
    if new.tree_size < old.tree_size:
        raise ForkedLog(
            f"epoch {new.epoch} has {new.tree_size} entries, "
            f"fewer than the {old.tree_size} of epoch {old.epoch}"
        )
    if new.timestamp_ms < old.timestamp_ms:
        raise ForkedLog(f"epoch {new.epoch} is timestamped before epoch {old.epoch}")
    if new.tree_size == old.tree_size and new.root_hash != old.root_hash:
        raise ForkedLog(f"the log signed two different roots for size {new.tree_size}")
    if (proof.first_size, proof.second_size) != (old.tree_size, new.tree_size):
        raise ProofError(
            f"consistency proof is from size {proof.first_size} to {proof.second_size}, "
            f"the heads have sizes {old.tree_size} and {new.tree_size}"
        )
    verify_consistency(proof, old.root_hash, new.root_hash)
