"""Known answers for transcript hashes: transcript-hashes.json (RFC 9420 §8.2, §6.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls import transcript
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.codec import encode_vector
from sottovoce.mls.errors import KatMismatch

FILE = "transcript-hashes.json"


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    confirmed_after = bytes.fromhex(case["confirmed_transcript_hash_after"])
    authenticated_content = bytes.fromhex(case["authenticated_content"])
    tag = transcript.confirmation_tag(
        suite, bytes.fromhex(case["confirmation_key"]), confirmed_after
    )
    # §6.1 AuthenticatedContent of a commit ends with FramedContentAuthData's
    # confirmation_tag; everything before it is the §8.2 ConfirmedTranscriptHashInput
    # (wire_format, FramedContent, signature).
    encoded_tag = encode_vector(tag)
    if not authenticated_content.endswith(encoded_tag):
        raise KatMismatch("transcript-hashes: confirmation_tag")
    confirmed_input = authenticated_content[: -len(encoded_tag)]
    hashes = transcript.TranscriptHashes(
        confirmed=b"", interim=bytes.fromhex(case["interim_transcript_hash_before"])
    )
    if hashes.next_confirmed(suite, confirmed_input) != confirmed_after:
        raise KatMismatch("transcript-hashes: confirmed_transcript_hash_after")
    after = transcript.TranscriptHashes.after_commit(suite, confirmed_after, tag)
    if after.interim != bytes.fromhex(case["interim_transcript_hash_after"]):
        raise KatMismatch("transcript-hashes: interim_transcript_hash_after")
