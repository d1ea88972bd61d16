"""Transcript hashes and the confirmation tag (RFC 9420 §8.2, §6.1).

The confirmed transcript hash chains every commit of the group's history into the
GroupContext, so two members only agree on an epoch's secrets if they agree on how
they got there. The interim hash folds in the commit's confirmation tag, which
proves the committer derived the same epoch secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Writer, encode_vector


def confirmed_transcript_hash_input(wire_format: int, content: bytes, signature: bytes) -> bytes:
    """§8.2 ConfirmedTranscriptHashInput{wire_format, FramedContent content, signature}.

    ``content`` is the encoded FramedContent of the commit.
    """
    return bytes(Writer().uint16(wire_format).raw(content).vector(signature))


def confirmed_transcript_hash(
    suite: CipherSuite, interim_transcript_hash: bytes, confirmed_input: bytes
) -> bytes:
    """§8.2: Hash(interim_transcript_hash_[n-1] || ConfirmedTranscriptHashInput_[n])."""
    return suite.hash(interim_transcript_hash + confirmed_input)


def interim_transcript_hash(
    suite: CipherSuite, confirmed_transcript_hash: bytes, confirmation_tag: bytes
) -> bytes:
    """§8.2: Hash(confirmed_transcript_hash_[n] || InterimTranscriptHashInput{tag})."""
    return suite.hash(confirmed_transcript_hash + encode_vector(confirmation_tag))


def confirmation_tag(
    suite: CipherSuite, confirmation_key: bytes, confirmed_transcript_hash: bytes
) -> bytes:
    """§6.1: MAC(confirmation_key, GroupContext.confirmed_transcript_hash)."""
    return suite.mac(confirmation_key, confirmed_transcript_hash)


def verify_confirmation_tag(
    suite: CipherSuite, confirmation_key: bytes, confirmed_transcript_hash: bytes, tag: bytes
) -> None:
    """§6.1: recompute the confirmation tag and compare in constant time."""
    suite.verify_mac(
        confirmation_key,
        confirmed_transcript_hash,
        tag,
        "RFC 9420 §6.1: confirmation_tag",
    )


@dataclass(frozen=True, slots=True)
class TranscriptHashes:
    """The pair of transcript hashes a group carries from epoch to epoch (§8.2).

    ``confirmed`` is the current epoch's (it is in the GroupContext); ``interim`` is
    what the next commit's confirmed hash chains from.
    """

    confirmed: bytes
    interim: bytes

    def next_confirmed(self, suite: CipherSuite, confirmed_input: bytes) -> bytes:
        """The next epoch's confirmed transcript hash for a commit's hash input."""
        return confirmed_transcript_hash(suite, self.interim, confirmed_input)

    @classmethod
    def after_commit(
        cls, suite: CipherSuite, confirmed: bytes, confirmation_tag: bytes
    ) -> TranscriptHashes:
        """Both hashes once the commit's confirmation tag is known."""
        return cls(confirmed, interim_transcript_hash(suite, confirmed, confirmation_tag))
