"""The SDK's view of one MLS group: ``sottovoce.mls.group.Group`` in Sottovoce terms.

Members are devices named by their credential (``DeviceIdentity``), events say
who did what in those terms, and a commit carries the member devices it removes
so the client can tell the Delivery Service (docs/groups.md). Everything here is
sans-I/O; :mod:`sottovoce.client.groups` does the talking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sottovoce.crypto.signing import SigningKey
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import MLSError, ValidationError
from sottovoce.mls.group import (
    ApplicationMessage,
    Group,
    KeyPackageBundle,
)
from sottovoce.mls.group import CommitApplied as EngineCommit
from sottovoce.mls.group import Member as EngineMember
from sottovoce.mls.group import ProposalReceived as EngineProposal
from sottovoce.mls.group.credentials import DeviceIdentity
from sottovoce.mls.wire.framing import PrivateMessage, PublicMessage
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.proposals import Remove
from sottovoce.mls.wire.welcome import Welcome

EngineError = MLSError

# RFC 9420 §17.1: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.
CIPHER_SUITE = 1


@dataclass(frozen=True, slots=True)
class Member:
    leaf: int
    identity: DeviceIdentity
    signature_key: bytes


@dataclass(frozen=True, slots=True)
class Decrypted:
    sender: DeviceIdentity
    signature_key: bytes
    plaintext: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class CommitApplied:
    sender: DeviceIdentity | None
    added: tuple[Member, ...]
    removed: tuple[Member, ...]
    removed_self: bool


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    sender: DeviceIdentity | None
    self_remove: bool


Outcome = Decrypted | CommitApplied | ProposalReceived


@dataclass(frozen=True, slots=True)
class Pending:
    """A commit built but not yet accepted by the Delivery Service."""

    commit: bytes
    welcome: bytes | None
    removed: tuple[Member, ...]


def _member(member: EngineMember) -> Member:
    return Member(member.leaf_index, DeviceIdentity.parse(member.identity), member.signature_key)


def check_key_package(data: bytes, identity: DeviceIdentity, signature_key: bytes) -> None:
    """A claimed KeyPackage is signed, MLS 1.0 in our suite, and is ``identity``'s: its
    credential names that device and its signature key is the device's identity key
    (§5.3.1, the application's credential check)."""
    message = MLSMessage.from_bytes(data)
    package = message.body
    if not isinstance(package, KeyPackage):
        raise ValidationError("RFC 9420 §10: the claimed message is not a KeyPackage")
    if package.cipher_suite != CIPHER_SUITE:
        raise ValidationError(f"RFC 9420 §10.1: cipher suite {package.cipher_suite} unexpected")
    package.verify_signature(cipher_suite(package.cipher_suite))
    leaf = package.leaf_node
    if DeviceIdentity.parse(leaf.credential.identity) != identity:
        raise ValidationError("RFC 9420 §5.3.1: the credential names another device")
    if leaf.signature_key != signature_key:
        raise ValidationError("RFC 9420 §5.3.1: the signature key is not the device's")


class GroupState:
    """One device's state of one group; changed only by its methods."""

    __slots__ = ("_group",)

    def __init__(self, group: Group) -> None:
        self._group = group

    @classmethod
    def create(cls, group_id: bytes, identity: DeviceIdentity, signer: SigningKey) -> GroupState:
        return cls(Group.create(CIPHER_SUITE, group_id, bytes(identity), signer))

    @classmethod
    def join(
        cls, welcome: bytes, bundles: Mapping[bytes, KeyPackageBundle]
    ) -> tuple[GroupState, bytes]:
        """Join from a Welcome addressed to one of ``bundles``; returns the group and
        the KeyPackageRef it used (§12.4.3.1)."""
        message = MLSMessage.from_bytes(welcome)
        body = message.body
        if not isinstance(body, Welcome):
            raise ValidationError("RFC 9420 §12.4.3.1: the message is not a Welcome")
        for ref, bundle in bundles.items():
            if body.secrets_for(ref) is not None:
                return cls(Group.join(welcome, bundle)), ref
        raise ValidationError("RFC 9420 §12.4.3.1: the Welcome is for none of our KeyPackages")

    @classmethod
    def from_bytes(cls, data: bytes) -> GroupState:
        return cls(Group.from_bytes(data))

    def to_bytes(self) -> bytes:
        return self._group.to_bytes()

    @staticmethod
    def message_group_id(data: bytes) -> bytes:
        """The group a PublicMessage or PrivateMessage is for (its clear header)."""
        body = MLSMessage.from_bytes(data).body
        if isinstance(body, PrivateMessage):
            return body.group_id
        if isinstance(body, PublicMessage):
            return body.content.group_id
        raise ValidationError("RFC 9420 §6: not a group message")

    @property
    def group_id(self) -> bytes:
        return self._group.group_id

    @property
    def epoch(self) -> int:
        return self._group.epoch

    def members(self) -> list[Member]:
        """Every member device, by leaf index."""
        return sorted((_member(m) for m in self._group.members()), key=lambda m: m.leaf)

    def commit(self, *, adds: Iterable[bytes] = (), removes: Iterable[int] = ()) -> Pending:
        """A commit with an UpdatePath adding ``adds`` and removing the leaves
        ``removes``, plus every proposal received this epoch; it takes effect with
        :meth:`merge`."""
        own = self._group.own_leaf_index
        proposed = {
            p.proposal.body.removed
            for p in self._group.pending_proposals()
            if isinstance(p.proposal.body, Remove)
        } - {own}
        inline = sorted(set(removes) - proposed - {own})
        removed = tuple(m for m in self.members() if m.leaf in proposed or m.leaf in inline)
        bundle = self._group.commit(add=list(adds), remove=inline)
        return Pending(bundle.commit, bundle.welcome, removed)

    def merge(self, pending: Pending) -> None:
        """The Delivery Service accepted ``pending``: move to its epoch."""
        del pending
        self._group.merge_pending_commit()

    def protect(self, plaintext: bytes) -> bytes:
        return self._group.protect(plaintext)

    def propose_self_remove(self) -> bytes:
        """A Remove proposal of this member's own leaf (leaving, §12.1.3)."""
        return self._group.propose_remove(self._group.own_leaf_index)

    def process(self, data: bytes) -> Outcome:
        """Open a message of the group; raises :data:`EngineError` and changes nothing
        when it breaks a rule."""
        before = {m.leaf: m for m in self.members()}
        received = self._group.process(data)
        if isinstance(received, ApplicationMessage):
            return Decrypted(
                DeviceIdentity.parse(received.sender.identity),
                received.sender.signature_key,
                received.data,
            )
        if isinstance(received, EngineProposal):
            body = received.proposal.body
            return ProposalReceived(
                None if received.sender is None else before[received.sender].identity,
                isinstance(body, Remove) and body.removed == received.sender,
            )
        assert isinstance(received, EngineCommit)
        committer = before.get(received.committer)
        return CommitApplied(
            None if committer is None else committer.identity,
            tuple(_member(m) for m in received.added),
            tuple(_member(m) for m in received.removed),
            received.removed_self,
        )
