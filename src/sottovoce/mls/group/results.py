"""What the group engine hands back to its caller: members, commits to send, and what
an incoming message turned out to be. Plain values, no secrets."""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.proposals import Proposal
from sottovoce.mls.wire.registry import CredentialType


@dataclass(frozen=True, slots=True)
class Member:
    """A member of the group: its leaf and, for basic credentials, its identity."""

    leaf_index: int
    identity: bytes
    signature_key: bytes
    leaf: LeafNode

    @classmethod
    def of(cls, leaf_index: int, leaf: LeafNode) -> Member:
        identity = (
            leaf.credential.identity
            if leaf.credential.credential_type is CredentialType.BASIC
            else b""
        )
        return cls(leaf_index, identity, leaf.signature_key, leaf)


@dataclass(frozen=True, slots=True)
class CommitBundle:
    """A commit ready for the Delivery Service.

    ``commit`` is the MLSMessage to fan out to the current members; ``welcome`` the
    MLSMessage for the members it adds (``None`` when it adds nobody); ``epoch`` the
    epoch the commit leads to. Once merged, :meth:`Group.group_info` gives the
    GroupInfo external joiners need.
    """

    commit: bytes
    welcome: bytes | None
    epoch: int


@dataclass(frozen=True, slots=True)
class ApplicationMessage:
    """Application data from ``sender``, authenticated and decrypted (§6.3)."""

    sender: Member
    data: bytes
    authenticated_data: bytes
    epoch: int


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A proposal now waiting for a commit; ``sender`` is a member's leaf index or
    ``None`` for an external or new-member sender."""

    proposal: Proposal
    ref: bytes
    sender: int | None


@dataclass(frozen=True, slots=True)
class CommitApplied:
    """A commit moved the group to ``epoch``.

    ``committer`` is the leaf index of whoever committed (for an external commit, the
    joiner's new leaf). ``removed_self`` means this member is out: the group can no
    longer be used (§12.1.3); ``reinit`` means the group must be restarted (§12.1.5).
    """

    epoch: int
    committer: int
    added: tuple[Member, ...]
    removed: tuple[Member, ...]
    updated: tuple[Member, ...]
    removed_self: bool = False
    reinit: bool = False


Received = ApplicationMessage | ProposalReceived | CommitApplied
