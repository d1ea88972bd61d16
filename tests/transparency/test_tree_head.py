"""Signed tree heads: only the log key's signature over exactly these fields is accepted,
and two heads that cannot belong to one append-only log are reported as a fork."""

from __future__ import annotations

import struct

import pytest

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public import merkle
from sottovoce.protocol.public.merkle import ConsistencyProof, ProofError
from sottovoce.protocol.public.tree_head import (
    SIGNED_TREE_HEAD_LEN,
    ForkedLog,
    SignedTreeHead,
    TreeHead,
    parse_signed_tree_head,
    verify_consistent_heads,
)
from tests.transparency.trees import leaf_data, tree_of

LOG_KEY = SigningKey.generate()
TREE = tree_of(20)


def head(epoch: int, size: int, timestamp_ms: int | None = None) -> SignedTreeHead:
    when = 1_700_000_000_000 + epoch * 60_000 if timestamp_ms is None else timestamp_ms
    return TreeHead(epoch, when, size, TREE.root(size)).sign(LOG_KEY)


def test_round_trip_and_layout() -> None:
    signed = head(3, 17)
    data = signed.to_bytes()
    assert len(data) == SIGNED_TREE_HEAD_LEN == 4 + 1 + 8 + 8 + 8 + 32 + 64
    assert data[:5] == b"SVTH\x01"
    assert struct.unpack(">QQQ", data[5:29]) == (3, signed.timestamp_ms, 17)
    assert data[29:61] == TREE.root(17)
    parsed = parse_signed_tree_head(data, LOG_KEY.public)
    assert parsed == signed
    assert (parsed.epoch, parsed.tree_size, parsed.root_hash) == (3, 17, TREE.root(17))


def test_every_byte_is_covered_by_the_signature() -> None:
    data = head(3, 17).to_bytes()
    for position in range(5, len(data)):  # magic and format fail to parse before that
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        with pytest.raises(VerificationError, match="signature does not verify"):
            parse_signed_tree_head(bytes(tampered), LOG_KEY.public)


def test_another_key_is_refused() -> None:
    with pytest.raises(VerificationError, match="signature does not verify"):
        parse_signed_tree_head(head(1, 5).to_bytes(), SigningKey.generate().public)
    with pytest.raises(VerificationError):
        parse_signed_tree_head(head(1, 5).to_bytes(), b"short key")


def test_a_signature_over_the_bare_fields_is_not_a_tree_head() -> None:
    """Domain separation: the log key's signature over the body alone does not verify."""
    body = TreeHead(1, 0, 5, TREE.root(5)).signed_body()
    with pytest.raises(VerificationError):
        parse_signed_tree_head(body + LOG_KEY.sign(body), LOG_KEY.public)


def test_malformed_heads_are_decode_errors() -> None:
    data = head(1, 5).to_bytes()
    cases = [
        (b"", "must be 125 bytes, got 0"),
        (data[:-1], "got 124"),
        (data + b"\x00", "got 126"),
        (b"XVTH" + data[4:], "wrong magic"),
        (data[:4] + b"\x02" + data[5:], "unknown signed tree head format 2"),
    ]
    for bad, message in cases:
        with pytest.raises(DecodeError, match=message):
            parse_signed_tree_head(bad, LOG_KEY.public)


def test_heads_that_cannot_be_encoded_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TreeHead(1, 0, 5, b"short").signed_body()
    with pytest.raises(ValueError, match="64 bits"):
        TreeHead(1, 0, 2**64, TREE.root(5)).signed_body()
    with pytest.raises(ValueError, match="64 bits"):
        TreeHead(-1, 0, 5, TREE.root(5)).signed_body()


def test_verify_inclusion_binds_the_proof_to_the_head() -> None:
    signed = head(2, 12)
    proof = TREE.inclusion_proof(7, 12)
    signed.verify_inclusion(leaf_data(7), proof)
    with pytest.raises(ProofError):
        signed.verify_inclusion(leaf_data(8), proof)
    # A proof for another size can lead to the same root; the head's size decides.
    other_size = merkle.InclusionProof(7, 13, proof.path)
    with pytest.raises(ProofError, match="tree of size 13, the head signs size 12"):
        signed.verify_inclusion(leaf_data(7), other_size)


def test_consistent_heads_in_either_order() -> None:
    old, new = head(1, 6), head(2, 20)
    proof = TREE.consistency_proof(6, 20)
    verify_consistent_heads(old, new, proof)
    verify_consistent_heads(new, old, proof)
    verify_consistent_heads(old, old, ConsistencyProof(6, 6, ()))
    quiet_epoch = head(3, 20)
    verify_consistent_heads(new, quiet_epoch, ConsistencyProof(20, 20, ()))


def test_contradicting_heads_are_a_fork() -> None:
    base = head(5, 10)
    with pytest.raises(ForkedLog, match="two different heads for epoch 5"):
        verify_consistent_heads(base, head(5, 11), TREE.consistency_proof(10, 11))
    with pytest.raises(ForkedLog, match="fewer than"):
        verify_consistent_heads(base, head(6, 9), TREE.consistency_proof(9, 10))
    with pytest.raises(ForkedLog, match="timestamped before"):
        verify_consistent_heads(base, head(6, 11, timestamp_ms=0), TREE.consistency_proof(10, 11))
    rewritten = TreeHead(6, base.timestamp_ms, 10, TREE.root(9)).sign(LOG_KEY)
    with pytest.raises(ForkedLog, match="two different roots for size 10"):
        verify_consistent_heads(base, rewritten, ConsistencyProof(10, 10, ()))


def test_a_proof_for_other_sizes_or_a_bad_proof_is_not_accepted() -> None:
    old, new = head(1, 6), head(2, 20)
    with pytest.raises(ProofError, match="from size 5 to 20, the heads have sizes 6 and 20"):
        verify_consistent_heads(old, new, TREE.consistency_proof(5, 20))
    forged_new = TreeHead(2, new.timestamp_ms, 20, merkle.leaf_hash(b"forged")).sign(LOG_KEY)
    with pytest.raises(ProofError):
        verify_consistent_heads(old, forged_new, TREE.consistency_proof(6, 20))
