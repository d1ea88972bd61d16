"""The server's key-transparency log: key-change entries, their proofs, one signed head per epoch.

Entries are appended as accounts change keys or device lists; at the end of each
epoch the operator signs one tree head over everything appended so far. Clients
trust entries only through a signed head (inclusion proof) and trust a newer
head only through a consistency proof from the one they hold, so the log key
is what the operator answers for: every head it signs is evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from sottovoce.crypto import random, signing
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.merkle import ConsistencyProof, InclusionProof
from sottovoce.protocol.public.transparency_entry import (
    SALT_LEN,
    TransparencyEntry,
    parse_entry,
)
from sottovoce.protocol.public.tree_head import (
    SignedTreeHead,
    TreeHead,
    parse_signed_tree_head,
)
from sottovoce.server.transparency.errors import ClockWentBackwards, StoreCorrupted
from sottovoce.server.transparency.tree import MerkleTree

# The first head a log signs; each later head is the previous epoch plus one.
FIRST_EPOCH = 1


def new_account_salt() -> bytes:
    """A fresh salt for an account's log commitment, drawn once when the account is created."""
    return random.random_bytes(SALT_LEN)


class TransparencyLog:
    """Appends key-change entries to a Merkle tree and signs its head once per epoch."""

    __slots__ = ("_key", "_latest", "_tree")

    def __init__(
        self,
        tree: MerkleTree,
        log_key: signing.SigningKey,
        latest_head: SignedTreeHead | None = None,
    ) -> None:
        """Resume the log in ``tree``; ``latest_head`` is the last head it signed, if any.

        The head must be the log key's and describe a prefix of the stored
        tree: otherwise the stores were rolled back or swapped, and signing on
        would fork the log in the eyes of every client holding that head.
        """
        if latest_head is not None:
            try:
                parse_signed_tree_head(latest_head.to_bytes(), log_key.public)
            except (DecodeError, VerificationError) as exc:
                raise StoreCorrupted("the latest tree head is not signed by this log key") from exc
            if latest_head.tree_size > tree.size:
                raise StoreCorrupted(
                    f"the latest tree head covers {latest_head.tree_size} entries, "
                    f"the store holds {tree.size}"
                )
            if tree.root(latest_head.tree_size) != latest_head.root_hash:
                raise StoreCorrupted(
                    f"the stored tree's root at size {latest_head.tree_size} "
                    "is not the one the latest head signed"
                )
        self._tree = tree
        self._key = log_key
        self._latest = latest_head

    @property
    def public_key(self) -> bytes:
        """The Ed25519 key clients pin to verify this log's heads."""
        return self._key.public

    @property
    def size(self) -> int:
        return self._tree.size

    @property
    def latest_head(self) -> SignedTreeHead | None:
        return self._latest

    def append(self, entry: TransparencyEntry) -> int:
        """Log one key change; return its index."""
        return self._tree.append(entry.to_bytes())

    def extend(self, entries: Sequence[TransparencyEntry]) -> range:
        """Log several key changes in one write per store level; return their indices."""
        return self._tree.extend([entry.to_bytes() for entry in entries])

    def leaf(self, index: int) -> bytes:
        """Entry ``index`` exactly as logged: what a client hashes to check an inclusion proof."""
        return self._tree.leaf(index)

    def entry(self, index: int) -> TransparencyEntry:
        try:
            return parse_entry(self._tree.leaf(index))
        except DecodeError as exc:
            raise StoreCorrupted(f"stored entry {index} does not parse") from exc

    def publish(self, timestamp_ms: int) -> SignedTreeHead:
        """Sign the head of the next epoch over every entry appended so far."""
        previous = self._latest
        if previous is not None and timestamp_ms < previous.timestamp_ms:
            raise ClockWentBackwards(
                f"time {timestamp_ms} is before epoch {previous.epoch}'s {previous.timestamp_ms}"
            )
        epoch = FIRST_EPOCH if previous is None else previous.epoch + 1
        head = TreeHead(epoch, timestamp_ms, self._tree.size, self._tree.root()).sign(self._key)
        self._latest = head
        return head

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        """Proof that entry ``index`` is in the tree of ``tree_size`` (a signed head's size)."""
        return self._tree.inclusion_proof(index, tree_size)

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """Proof that the tree of ``second`` entries extends the tree of ``first``."""
        return self._tree.consistency_proof(first, second)
