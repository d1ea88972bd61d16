"""Transcript hashes and confirmation tags (RFC 9420 §8.2, §6.1)."""

from __future__ import annotations

import pytest

from sottovoce.mls import transcript
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import CryptoFailure

SUITE = cipher_suite(1)


def test_confirmed_input_layout() -> None:
    encoded = transcript.confirmed_transcript_hash_input(2, b"\xaa\xbb", b"\x01\x02\x03")
    assert encoded.hex() == "0002aabb03010203"


def test_chain_over_two_commits_depends_on_every_link() -> None:
    key = bytes(range(32))
    start = transcript.TranscriptHashes(confirmed=b"", interim=b"")
    confirmed = start.next_confirmed(SUITE, b"commit 1")
    assert confirmed == SUITE.hash(b"commit 1")
    tag = transcript.confirmation_tag(SUITE, key, confirmed)
    after = transcript.TranscriptHashes.after_commit(SUITE, confirmed, tag)
    assert after.interim == SUITE.hash(confirmed + bytes([32]) + tag)
    second = after.next_confirmed(SUITE, b"commit 2")
    other_tag = transcript.confirmation_tag(SUITE, bytes(32), confirmed)
    forked = transcript.TranscriptHashes.after_commit(SUITE, confirmed, other_tag)
    assert forked.next_confirmed(SUITE, b"commit 2") != second


def test_confirmation_tag_mismatch_is_rejected() -> None:
    key, confirmed = bytes(range(32)), bytes(32)
    tag = transcript.confirmation_tag(SUITE, key, confirmed)
    transcript.verify_confirmation_tag(SUITE, key, confirmed, tag)
    for bad in (tag[:-1] + bytes([tag[-1] ^ 1]), tag[:-1], b""):
        with pytest.raises(CryptoFailure, match=r"§6\.1: confirmation_tag does not verify"):
            transcript.verify_confirmation_tag(SUITE, key, confirmed, bad)
    with pytest.raises(CryptoFailure):
        transcript.verify_confirmation_tag(SUITE, key, bytes(31) + b"\x01", tag)
