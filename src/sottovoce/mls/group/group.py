"""The MLS group of one member: creating it, changing it, joining it, and its messages
(RFC 9420 §11-§14). Sans-I/O: every method takes and returns bytes, the caller
carries them to and from the Delivery Service.

A commit this member creates is *pending* (:meth:`Group.commit`) until the
Delivery Service accepts it (:meth:`Group.merge_pending_commit`) or rejects it
because another commit won the epoch (:meth:`Group.discard_pending_commit`, then
process the winner and commit again). Every incoming message is checked in full
before any state changes; a message that fails raises a typed
:class:`~sottovoce.mls.errors.MLSError` naming the rule and leaves the group as it was.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from sottovoce.crypto import dh, random, signing
from sottovoce.mls import key_schedule, psk, transcript
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import (
    DecodeError,
    GroupInactive,
    InvalidCommit,
    InvalidProposal,
    InvalidWelcome,
    UnknownPsk,
    ValidationError,
    WrongEpoch,
)
from sottovoce.mls.group import commit as commits
from sottovoce.mls.group import joining, protection
from sottovoce.mls.group.epoch import Epoch, new_secret_tree
from sottovoce.mls.group.key_packages import KeyPackageBundle
from sottovoce.mls.group.proposals import (
    APPLICATION_USAGE,
    REINIT_USAGES,
    ProposalInfo,
    check_key_package,
    check_list,
    check_psk,
    check_sender_may_propose,
    client_identity,
    path_required,
)
from sottovoce.mls.group.results import (
    ApplicationMessage,
    CommitApplied,
    CommitBundle,
    Member,
    ProposalReceived,
    Received,
)
from sottovoce.mls.leaf_validation import (
    CredentialCheck,
    GroupParameters,
    validate_leaf_node,
)
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.treekem import TreePrivateKeys
from sottovoce.mls.wire.commit import Commit, ProposalOrRef
from sottovoce.mls.wire.extensions import (
    Extension,
    ExternalSenders,
    find_extension,
)
from sottovoce.mls.wire.framing import (
    AuthenticatedContent,
    FramedContent,
    FramedContentAuthData,
    PrivateMessage,
    PublicMessage,
    Sender,
)
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.leaf_node import Capabilities, LeafNode
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.proposals import (
    Add,
    GroupContextExtensions,
    PreSharedKey,
    Proposal,
    ReInit,
    Remove,
    Update,
)
from sottovoce.mls.wire.psk import PreSharedKeyId, PskType, ResumptionPskUsage
from sottovoce.mls.wire.registry import (
    ContentType,
    ExtensionType,
    LeafNodeSource,
    ProtocolVersion,
    SenderType,
    WireFormat,
)

# §6.3.1 padding: handshake and application plaintexts are padded to a multiple of
# 32 bytes, as in sottovoce.mls.framing.
PADDING_BLOCK = 32

# Version of the encoding of Group.to_bytes, so a store written by a later layout
# is refused rather than misread.
STATE_VERSION = 1

# Parsed signature keys of members kept for verifying their messages: a few large
# groups' worth; public keys only.
VERIFYING_KEY_CACHE = 4096

# §8.4 resumption PSKs: the resumption_psk of this many past epochs is kept, enough
# for a PSK proposal that names a recent epoch, without keeping secrets forever.
RESUMPTION_PSK_EPOCHS = 8


def _system_time() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Policy a group applies that RFC 9420 leaves to the application.

    ``handshake_private``: proposals and commits travel as PrivateMessages (hiding
    who changed what from the Delivery Service) rather than PublicMessages.
    ``credential_check``: §5.3.1, the application's check that a credential vouches
    for a signature key (Sottovoce: the account's signed device list).
    ``clock``: seconds since the Unix epoch, the only time the engine reads (to check
    KeyPackage lifetimes, §7.3); tests and replays pass a fixed one.
    """

    handshake_private: bool = True
    credential_check: CredentialCheck | None = None
    ratchet_tree_in_welcome: bool = True
    clock: Callable[[], int] = _system_time


class Group:
    """One member's state of one MLS group. Not thread-safe; ``repr`` shows no secret."""

    __slots__ = (
        "_active",
        "_config",
        "_epoch",
        "_external_psks",
        "_own_updates",
        "_pending",
        "_previous",
        "_proposals",
        "_reinit",
        "_resumption_psks",
        "_signer",
    )

    def __init__(
        self,
        epoch: Epoch,
        signer: signing.SigningKey,
        *,
        config: GroupConfig | None = None,
        external_psks: Mapping[bytes, bytes] | None = None,
    ) -> None:
        self._epoch = epoch
        self._signer = signer
        self._config = config or GroupConfig()
        self._external_psks: dict[bytes, bytes] = dict(external_psks or {})
        self._proposals: dict[bytes, ProposalInfo] = {}
        self._own_updates: dict[bytes, dh.DHKeyPair] = {}
        self._pending: _PendingCommit | None = None
        self._previous: Epoch | None = None
        # §8.4: (group_id, epoch) -> resumption_psk: this group's recent epochs, and the
        # last epoch of the group this one reinitializes (§11.2).
        self._resumption_psks: dict[tuple[bytes, int], bytes] = {
            (epoch.context.group_id, epoch.context.epoch): epoch.secrets.resumption_psk
        }
        self._reinit: ReInit | None = None
        self._active = True

    # --- creating (§11) ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        suite_id: int,
        group_id: bytes,
        identity: bytes,
        signer: signing.SigningKey,
        *,
        extensions: Sequence[Extension] = (),
        capabilities: Capabilities | None = None,
        config: GroupConfig | None = None,
    ) -> Group:
        """§11: a one-member group at epoch 0 with ``identity`` as its creator."""
        config = config or GroupConfig()
        bundle = KeyPackageBundle.create(
            suite_id, identity, signer, capabilities=capabilities, now=config.clock()
        )
        suite = bundle.suite
        tree = RatchetTree.with_one_member(suite, bundle.key_package.leaf_node)
        context = GroupContext(suite_id, group_id, 0, tree.tree_hash(), b"", tuple(extensions))
        secrets = key_schedule.epoch_secrets(
            suite,
            random.random_bytes(suite.hash_len),
            bytes(suite.hash_len),
            bytes(suite.hash_len),
            bytes(context),
        )
        tag = transcript.confirmation_tag(suite, secrets.confirmation_key, b"")
        epoch = Epoch(
            suite,
            context,
            tree,
            secrets,
            new_secret_tree(suite, secrets, tree),
            TreePrivateKeys(0, bundle.encryption_key_pair),
            transcript.interim_transcript_hash(suite, b"", tag),
            tag,
        )
        return cls(epoch, signer, config=config)

    # --- reading -----------------------------------------------------------------------

    @property
    def suite(self) -> CipherSuite:
        return self._epoch.suite

    @property
    def group_id(self) -> bytes:
        return self._epoch.context.group_id

    @property
    def epoch(self) -> int:
        return self._epoch.context.epoch

    @property
    def own_leaf_index(self) -> int:
        return self._epoch.own_leaf

    @property
    def group_context(self) -> GroupContext:
        return self._epoch.context

    @property
    def is_active(self) -> bool:
        """False once this member was removed or the group reinitialized."""
        return self._active

    @property
    def epoch_authenticator(self) -> bytes:
        """§8.7: a value all members of this epoch share; compare out of band to detect
        a split view of the group."""
        return self._epoch.secrets.epoch_authenticator

    @property
    def has_pending_commit(self) -> bool:
        return self._pending is not None

    def export_secret(self, label: bytes | str, context: bytes, length: int) -> bytes:
        """§8.5 MLS-Exporter of the current epoch."""
        return key_schedule.mls_exporter(
            self.suite, self._epoch.secrets.exporter_secret, label, context, length
        )

    def members(self) -> list[Member]:
        return [Member.of(index, leaf) for index, leaf in self._epoch.tree.members()]

    def member(self, leaf_index: int) -> Member | None:
        if not 0 <= leaf_index < self._epoch.tree.n_leaves:
            return None
        leaf = self._epoch.tree.leaf(leaf_index)
        return None if leaf is None else Member.of(leaf_index, leaf)

    def pending_proposals(self) -> list[ProposalReceived]:
        return [
            ProposalReceived(info.proposal, ref, _leaf_of(info.sender))
            for ref, info in self._proposals.items()
        ]

    def add_external_psk(self, psk_id: bytes, secret: bytes) -> None:
        """Make an external PSK (§8.4) available to commits and Welcomes."""
        self._external_psks[psk_id] = secret

    def ratchet_tree(self) -> bytes:
        """The encoded ratchet_tree extension (§12.4.3.3), for out-of-band delivery."""
        return bytes(self._epoch.tree)

    def group_info(self, *, with_ratchet_tree: bool = True) -> bytes:
        """The MLSMessage of a signed GroupInfo for this epoch, with external_pub, so a
        new device can join by external commit (§12.4.3.2)."""
        return bytes(
            MLSMessage(joining.build_group_info(self._epoch, self._signer, with_ratchet_tree))
        )

    # --- persistence -------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """This member's whole state, secrets included, for the client's encrypted
        store. Never send it anywhere; after loading it, use only the loaded copy."""
        writer = Writer().uint8(STATE_VERSION).uint8(1 if self._active else 0)
        writer.vector(self._signer.private_bytes())
        self._epoch.encode(writer)
        previous = self._previous
        writer.uint8(0 if previous is None else 1)
        if previous is not None:
            previous.encode(writer)
        writer.uint32(len(self._external_psks))
        for psk_id, secret in self._external_psks.items():
            writer.vector(psk_id).vector(secret)
        writer.uint32(len(self._resumption_psks))
        for (group_id, number), secret in self._resumption_psks.items():
            writer.vector(group_id).uint64(number).vector(secret)
        writer.uint8(0 if self._reinit is None else 1)
        if self._reinit is not None:
            self._reinit.encode(writer)
        writer.uint32(len(self._proposals))
        for ref, info in self._proposals.items():
            writer.vector(ref)
            info.proposal.encode(writer)
            info.sender.encode(writer)
        writer.uint32(len(self._own_updates))
        for ref, key_pair in self._own_updates.items():
            writer.vector(ref).vector(key_pair.private_bytes())
        pending = self._pending
        writer.uint8(0 if pending is None else 1)
        if pending is not None:
            pending.encode(writer)
        return bytes(writer)

    @classmethod
    def from_bytes(cls, data: bytes, *, config: GroupConfig | None = None) -> Group:
        """Load a state written by :meth:`to_bytes`; a damaged one is a DecodeError.
        ``config`` (policy and the credential check) is not stored: pass it again."""
        reader = Reader(data)
        if reader.uint8("Group.state_version") != STATE_VERSION:
            raise DecodeError("Group: unknown state version")
        active = reader.uint8("Group.active") == 1
        signer_bytes = reader.vector("Group.signer")
        epoch = Epoch.decode(reader)
        group = cls(epoch, epoch.suite.signature_key(signer_bytes), config=config)
        group._active = active
        if reader.uint8("Group.previous"):
            group._previous = Epoch.decode(reader)
        for _ in range(reader.uint32("Group.external_psks")):
            psk_id = reader.vector("Group.psk_id")
            group._external_psks[psk_id] = reader.vector("Group.psk")
        group._resumption_psks = {}
        for _ in range(reader.uint32("Group.resumption_psks")):
            group_id = reader.vector("Group.resumption_group")
            number = reader.uint64("Group.resumption_epoch")
            group._resumption_psks[(group_id, number)] = reader.vector("Group.resumption_psk")
        if reader.uint8("Group.reinit"):
            group._reinit = ReInit.decode(reader)
        for _ in range(reader.uint32("Group.proposals")):
            ref = reader.vector("Group.proposal_ref")
            proposal = Proposal.decode(reader)
            group._proposals[ref] = ProposalInfo(proposal, Sender.decode(reader), ref)
        for _ in range(reader.uint32("Group.own_updates")):
            ref = reader.vector("Group.update_ref")
            group._own_updates[ref] = epoch.suite.hpke_key_pair(reader.vector("Group.update_key"))
        if reader.uint8("Group.pending"):
            group._pending = _PendingCommit.decode(reader)
        reader.finish("Group state")
        return group

    def __repr__(self) -> str:
        return (
            f"Group(id={self.group_id.hex()[:16]}, epoch={self.epoch}, "
            f"leaf={self.own_leaf_index}, members={self._epoch.tree.member_count})"
        )

    # --- proposals (§12.1) ----------------------------------------------------------------

    def propose_add(self, key_package: KeyPackage | bytes) -> bytes:
        return self._propose(Proposal(Add(_key_package(key_package))))

    def propose_remove(self, leaf_index: int) -> bytes:
        return self._propose(Proposal(Remove(leaf_index)))

    def propose_update(self) -> bytes:
        """§12.1.2: a fresh leaf encryption key for this member, applied by the next commit
        (by anyone); our own next commit refreshes the leaf through its path instead."""
        self._check_active()
        epoch = self._epoch
        key_pair = self.suite.generate_hpke_key_pair()
        old = epoch.tree.leaf(epoch.own_leaf)
        assert old is not None
        leaf = replace(
            old,
            encryption_key=key_pair.public,
            leaf_node_source=LeafNodeSource.UPDATE,
            lifetime=None,
            parent_hash=b"",
            signature=b"",
        ).signed(self.suite, self._signer, self.group_id, epoch.own_leaf)
        message, ref = self._frame_proposal(Proposal(Update(leaf)))
        self._own_updates[ref] = key_pair
        return message

    def propose_psk(self, psk_id: PreSharedKeyId) -> bytes:
        return self._propose(Proposal(PreSharedKey(psk_id)))

    def propose_group_context_extensions(self, extensions: Sequence[Extension]) -> bytes:
        return self._propose(Proposal(GroupContextExtensions(tuple(extensions))))

    def propose_reinit(
        self, group_id: bytes, cipher_suite_id: int, extensions: Sequence[Extension] = ()
    ) -> bytes:
        return self._propose(
            Proposal(ReInit(group_id, ProtocolVersion.MLS10, cipher_suite_id, tuple(extensions)))
        )

    def _propose(self, proposal: Proposal) -> bytes:
        self._check_active()
        message, _ = self._frame_proposal(proposal)
        return message

    def _frame_proposal(self, proposal: Proposal) -> tuple[bytes, bytes]:
        """Frame, sign and protect our proposal; keep it for the commit that applies it."""
        epoch = self._epoch
        keys = epoch.keys()
        sender = Sender.member(epoch.own_leaf)
        info = ProposalInfo(proposal, sender)
        check_sender_may_propose(sender, proposal)
        self._check_single(info)
        wire_format = self._handshake_format()
        content = protection.framed(keys, sender, proposal, b"")
        authenticated = protection.sign(keys, self._signer, wire_format, content)
        ref = self.suite.make_proposal_ref(bytes(authenticated))
        self._proposals[ref] = ProposalInfo(proposal, sender, ref)
        return self._protect(keys, authenticated), ref

    # --- committing (§12.4.1) --------------------------------------------------------------

    def commit(
        self,
        *,
        add: Iterable[KeyPackage | bytes] = (),
        remove: Iterable[int] = (),
        psks: Iterable[PreSharedKeyId] = (),
        group_context_extensions: Sequence[Extension] | None = None,
        reinit: ReInit | None = None,
        path: bool = True,
        authenticated_data: bytes = b"",
    ) -> CommitBundle:
        """§12.4.1: commit the proposals received this epoch plus the given ones inline.

        With ``path`` (the default, and required whenever a proposal needs it) the
        commit also refreshes this member's leaf and path: post-compromise security.
        The group stays in its epoch until :meth:`merge_pending_commit`; a new call
        replaces a pending commit that was never sent.
        """
        self._check_active()
        epoch = self._epoch
        suite = self.suite
        own = Sender.member(epoch.own_leaf)
        inline = [Proposal(Add(_key_package(kp))) for kp in add]
        inline += [Proposal(Remove(leaf)) for leaf in remove]
        inline += [Proposal(PreSharedKey(psk_id)) for psk_id in psks]
        if group_context_extensions is not None:
            inline.append(Proposal(GroupContextExtensions(tuple(group_context_extensions))))
        if reinit is not None:
            inline.append(Proposal(reinit))
        infos = self._proposals_to_commit(inline)
        check_list(
            suite,
            epoch.context,
            dict(epoch.tree.members()),
            infos,
            own,
            client_identity,
            # §11.2: a reinit PSK belongs in the first commit of the new group only.
            psk_usages=REINIT_USAGES if epoch.context.epoch == 0 else APPLICATION_USAGE,
        )
        with_path = path or path_required(infos)
        applied = commits.apply_proposals(epoch, infos, self._params(), now=self._config.clock())
        private = epoch.private.copy()
        created = None
        commit_secret = None
        if with_path:
            own_leaf = applied.tree.leaf(epoch.own_leaf)
            assert own_leaf is not None
            created = commits.create_path(epoch, applied, private, own_leaf, self._signer)
            commit_secret = created.commit_secret
        body = Commit(
            tuple(
                ProposalOrRef(reference=info.ref)
                if info.ref is not None
                else ProposalOrRef(proposal=info.proposal)
                for info in infos
            ),
            None if created is None else created.update_path,
        )
        keys = epoch.keys()
        wire_format = self._handshake_format()
        content = protection.framed(keys, own, body, authenticated_data)
        signature = protection.signature(keys, self._signer, wire_format, content)
        psk_secret = self._psk_secret(applied.psks)
        nxt = commits.next_epoch(
            suite,
            epoch,
            applied,
            content,
            wire_format,
            signature,
            commit_secret=commit_secret,
            psk_secret=psk_secret,
            private=private,
        )
        authenticated = AuthenticatedContent(
            wire_format, content, FramedContentAuthData(signature, nxt.confirmation_tag)
        )
        message = self._protect(keys, authenticated)
        welcome_message = None
        if applied.added:
            group_info = joining.build_group_info(
                nxt.epoch, self._signer, self._config.ratchet_tree_in_welcome
            )
            welcome_message = joining.build_welcome(nxt.epoch, group_info, infos, applied, created)
        outcome = self._outcome(epoch, nxt.epoch, epoch.own_leaf, applied)
        self._pending = _PendingCommit(content, nxt.epoch, outcome, applied.reinit)
        return CommitBundle(message, welcome_message, nxt.epoch.context.epoch)

    def reinit_successor(
        self, key_packages: Iterable[KeyPackage | bytes]
    ) -> tuple[Group, CommitBundle]:
        """§11.2: after a ReInit commit, the new group it asks for, with this member in
        it and a commit adding ``key_packages`` (KeyPackages of the new cipher suite,
        one per other member), bound to this group by a resumption PSK of usage
        reinit. Merge the commit into the new group once the Delivery Service accepts
        it; the others join its Welcome with ``Group.join(..., reinit_from=old)``."""
        reinit = self._reinit
        if reinit is None:
            raise InvalidProposal("RFC 9420 §11.2: this group was not reinitialized")
        own = self._epoch.tree.leaf(self._epoch.own_leaf)
        assert own is not None
        successor = Group.create(
            reinit.cipher_suite,
            reinit.group_id,
            own.credential.identity,
            self._signer,
            extensions=reinit.extensions,
            config=self._config,
        )
        origin = (self.group_id, self.epoch)
        successor._resumption_psks[origin] = self._epoch.secrets.resumption_psk
        psk_id = PreSharedKeyId.resumption(
            ResumptionPskUsage.REINIT,
            self.group_id,
            self.epoch,
            random.random_bytes(successor.suite.hash_len),
        )
        return successor, successor.commit(add=key_packages, psks=[psk_id])

    @property
    def reinit(self) -> ReInit | None:
        """The ReInit this group ended with (§12.1.5), if any."""
        return self._reinit

    def merge_pending_commit(self) -> CommitApplied:
        """The Delivery Service accepted our commit: move to its epoch."""
        pending = self._pending
        if pending is None:
            raise InvalidCommit("no pending commit to merge")
        self._advance(pending.epoch, pending.reinit)
        return pending.outcome

    def discard_pending_commit(self) -> None:
        """Another commit won the epoch (409 from the Delivery Service): drop ours. The
        proposals it carried inline must be proposed or committed again."""
        self._pending = None

    def discard_proposals(self) -> None:
        """Forget the proposals received this epoch, e.g. one that makes every commit
        invalid (an Add whose KeyPackage expired since): the next commit goes without."""
        self._proposals.clear()
        self._own_updates.clear()

    def _proposals_to_commit(self, inline: Sequence[Proposal]) -> list[ProposalInfo]:
        """§12.2, §12.4: every valid proposal of this epoch by reference, then ours inline.

        Among received proposals, a Remove wins over an Update of the same leaf; our own
        Update is left out (the path refreshes our leaf) and a Remove of us too.
        """
        epoch = self._epoch
        own_leaf = epoch.own_leaf
        chosen: list[ProposalInfo] = []
        touched: set[int] = set()
        stored = list(self._proposals.values())
        ordered = [i for i in stored if isinstance(i.proposal.body, Remove)] + [
            i for i in stored if not isinstance(i.proposal.body, Remove)
        ]
        for info in ordered:
            body = info.proposal.body
            if isinstance(body, Update):
                leaf = info.sender.index
                if leaf == own_leaf or leaf in touched:
                    continue
                touched.add(leaf)
            elif isinstance(body, Remove):
                if body.removed == own_leaf or body.removed in touched:
                    continue
                touched.add(body.removed)
            chosen.append(info)
        own = Sender.member(own_leaf)
        chosen.extend(ProposalInfo(proposal, own) for proposal in inline)
        return chosen

    # --- receiving (§6, §12.4.2) -------------------------------------------------------

    def process(self, data: bytes) -> Received:
        """Open an MLSMessage from the group: application data, a proposal (kept for the
        next commit) or a commit (applied: the group moves to the next epoch)."""
        self._check_active()
        message = MLSMessage.from_bytes(data)
        body = message.body
        if isinstance(body, PrivateMessage):
            epoch = self._epoch_of(body.epoch, body.content_type)
            authenticated = protection.open_private(
                epoch.keys(),
                body,
                lambda sender, content: self._signer_of(epoch, sender, content),
                lambda leaf: leaf < epoch.tree.n_leaves and epoch.tree.leaf(leaf) is not None,
            )
        elif isinstance(body, PublicMessage):
            epoch = self._epoch_of(body.content.epoch, body.content.content_type)
            authenticated = protection.open_public(
                epoch.keys(),
                body,
                lambda sender, content: self._signer_of(epoch, sender, content),
            )
        else:
            raise ValidationError(
                f"RFC 9420 §6: a {message.wire_format.name} is not a group message; "
                "use Group.join for a Welcome"
            )
        content = authenticated.content
        if content.content_type is ContentType.APPLICATION:
            assert isinstance(content.content, bytes)
            sender = epoch.tree.leaf(content.sender.index)
            assert sender is not None
            return ApplicationMessage(
                Member.of(content.sender.index, sender),
                content.content,
                content.authenticated_data,
                content.epoch,
            )
        if content.content_type is ContentType.PROPOSAL:
            return self._receive_proposal(authenticated)
        return self._receive_commit(authenticated)

    def protect(self, data: bytes, authenticated_data: bytes = b"") -> bytes:
        """§6.3: application data as a PrivateMessage from this member."""
        self._check_active()
        if self._pending is not None:
            # §12.4: a member with a commit in flight must not send application data in
            # the old epoch, whose keys the commit is about to retire.
            raise InvalidCommit("RFC 9420 §12.4: a commit is pending; merge or discard it first")
        epoch = self._epoch
        return protection.protect_application(
            epoch.keys(), self._signer, epoch.own_leaf, data, authenticated_data, PADDING_BLOCK
        )

    def _epoch_of(self, epoch_number: int, content_type: ContentType) -> Epoch:
        """The epoch a message belongs to: the current one, or for application data the
        one just before (messages sent while a commit was in flight)."""
        if epoch_number == self.epoch:
            return self._epoch
        previous = self._previous
        if (
            content_type is ContentType.APPLICATION
            and previous is not None
            and epoch_number == previous.context.epoch
        ):
            return previous
        raise WrongEpoch(
            f"RFC 9420 §6: message is for epoch {epoch_number}, the group is at {self.epoch}"
        )

    def _signer_of(
        self, epoch: Epoch, sender: Sender, content: FramedContent
    ) -> bytes | signing.VerifyingKey:
        """§6.1: whose signature key authenticates ``content``."""
        if sender.sender_type is SenderType.MEMBER:
            leaf = epoch.tree.leaf(sender.index) if sender.index < epoch.tree.n_leaves else None
            if leaf is None:
                raise ValidationError(f"RFC 9420 §6: sender leaf {sender.index} is not a member")
            return _verifying_key(leaf.signature_key)
        if sender.sender_type is SenderType.EXTERNAL:
            found = find_extension(epoch.context.extensions, ExtensionType.EXTERNAL_SENDERS)
            senders = (
                ()
                if found is None
                else ExternalSenders.from_bytes(found.extension_data).external_senders
            )
            if sender.index >= len(senders):
                raise ValidationError(
                    f"RFC 9420 §12.1.8.1: no external sender at index {sender.index}"
                )
            return senders[sender.index].signature_key
        if sender.sender_type is SenderType.NEW_MEMBER_PROPOSAL:
            body = content.content
            if not isinstance(body, Proposal) or not isinstance(body.body, Add):
                raise InvalidProposal("RFC 9420 §12.1.8: a new member may only propose Add")
            return body.body.key_package.leaf_node.signature_key
        body = content.content
        if not isinstance(body, Commit) or body.path is None:
            raise InvalidCommit("RFC 9420 §12.4.3.2: an external commit must carry a path")
        return body.path.leaf_node.signature_key

    def _receive_proposal(self, authenticated: AuthenticatedContent) -> ProposalReceived:
        content = authenticated.content
        proposal = content.content
        assert isinstance(proposal, Proposal)
        check_sender_may_propose(content.sender, proposal)
        info = ProposalInfo(proposal, content.sender)
        self._check_single(info)
        ref = self.suite.make_proposal_ref(bytes(authenticated))
        self._proposals[ref] = ProposalInfo(proposal, content.sender, ref)
        return ProposalReceived(proposal, ref, _leaf_of(content.sender))

    def _check_single(self, info: ProposalInfo) -> None:
        """§12.1: the checks one proposal passes before it is kept."""
        epoch = self._epoch
        body = info.proposal.body
        if isinstance(body, Add):
            check_key_package(self.suite, epoch.context, body.key_package)
        elif isinstance(body, Update):
            if info.sender.sender_type is not SenderType.MEMBER:
                raise InvalidProposal("RFC 9420 §12.1.2: an Update comes from a member")
            commits.check_same_client(epoch.tree, info.sender.index, body.leaf_node)
            validate_leaf_node(
                self._params(),
                epoch.tree,
                body.leaf_node,
                source=LeafNodeSource.UPDATE,
                leaf_index=info.sender.index,
                replaces=info.sender.index,
            )
        elif isinstance(body, Remove):
            if body.removed >= epoch.tree.n_leaves or epoch.tree.leaf(body.removed) is None:
                raise InvalidProposal(f"RFC 9420 §12.1.3: Remove of blank leaf {body.removed}")
        elif isinstance(body, PreSharedKey):
            check_psk(self.suite, body)

    def _receive_commit(self, authenticated: AuthenticatedContent) -> CommitApplied:
        """§12.4.2: validate and apply a commit by another member (or an external joiner)."""
        epoch = self._epoch
        suite = self.suite
        content = authenticated.content
        body = content.content
        assert isinstance(body, Commit)
        sender = content.sender
        commits.check_committer_sender(sender.sender_type)
        pending = self._pending
        if sender.sender_type is SenderType.MEMBER and sender.index == epoch.own_leaf:
            if pending is not None and pending.content == content:
                return self.merge_pending_commit()
            raise InvalidCommit("RFC 9420 §12.4.2: a commit from our own leaf that we did not make")
        confirmation_tag = authenticated.auth.confirmation_tag
        if confirmation_tag is None:
            raise InvalidCommit("RFC 9420 §6.1: a commit lacks its confirmation_tag")
        infos = [self._resolve(item, sender) for item in body.proposals]
        check_list(suite, epoch.context, dict(epoch.tree.members()), infos, sender, client_identity)
        if path_required(infos) and body.path is None:
            raise InvalidCommit("RFC 9420 §12.4: these proposals require a commit with a path")
        external = sender.sender_type is SenderType.NEW_MEMBER_COMMIT
        if external and body.path is None:
            raise InvalidCommit("RFC 9420 §12.4.3.2: an external commit must carry a path")
        params = self._params()
        applied = commits.apply_proposals(epoch, infos, params, now=self._config.clock())
        committer = sender.index
        if external:
            assert body.path is not None
            joining.check_resync(applied, body.path.leaf_node)
            committer = applied.tree.add_leaf(body.path.leaf_node)
        private = epoch.private.copy()
        for info in infos:
            if isinstance(info.proposal.body, Update) and info.sender.index == epoch.own_leaf:
                own_key = self._own_updates.get(info.ref or b"")
                if own_key is None:
                    raise InvalidCommit("RFC 9420 §12.1.2: an Update of our leaf we did not make")
                private.set_leaf(own_key)
        if any(index == epoch.own_leaf for index, _ in applied.removed):
            outcome = self._outcome(epoch, epoch, committer, applied, removed_self=True)
            self._active = False
            self._pending = None
            self._proposals.clear()
            return outcome
        commit_secret = None
        if body.path is not None:
            commit_secret = commits.process_path(
                epoch, applied, committer, body.path, params, private
            )
        init_secret = None
        if applied.external_init is not None:
            init_secret = key_schedule.external_init_recipient(
                suite, epoch.secrets.external_secret, applied.external_init
            )
        nxt = commits.next_epoch(
            suite,
            epoch,
            applied,
            content,
            authenticated.wire_format,
            authenticated.auth.signature,
            commit_secret=commit_secret,
            psk_secret=self._psk_secret(applied.psks),
            private=private,
            init_secret=init_secret,
        )
        transcript.verify_confirmation_tag(
            suite,
            nxt.epoch.secrets.confirmation_key,
            nxt.epoch.context.confirmed_transcript_hash,
            confirmation_tag,
        )
        outcome = self._outcome(epoch, nxt.epoch, committer, applied)
        self._advance(nxt.epoch, applied.reinit)
        return outcome

    def _resolve(self, item: ProposalOrRef, committer: Sender) -> ProposalInfo:
        """§12.4: an inline proposal is the committer's; a reference names a stored one."""
        if item.proposal is not None:
            return ProposalInfo(item.proposal, committer)
        assert item.reference is not None
        info = self._proposals.get(item.reference)
        if info is None:
            raise InvalidProposal("RFC 9420 §12.4: commit references an unknown proposal")
        return info

    # --- epochs --------------------------------------------------------------------------

    def _advance(self, epoch: Epoch, reinit: ReInit | None = None) -> None:
        self._previous = self._epoch
        self._epoch = epoch
        self._pending = None
        self._proposals.clear()
        self._own_updates.clear()
        group_id = epoch.context.group_id
        self._resumption_psks[(group_id, epoch.context.epoch)] = epoch.secrets.resumption_psk
        own = sorted(key for key in self._resumption_psks if key[0] == group_id)
        for old in own[:-RESUMPTION_PSK_EPOCHS]:
            del self._resumption_psks[old]
        if reinit is not None:
            self._reinit = reinit
            self._active = False

    def _outcome(
        self,
        before: Epoch,
        after: Epoch,
        committer: int,
        applied: commits.Applied,
        *,
        removed_self: bool = False,
    ) -> CommitApplied:
        tree = applied.tree
        return CommitApplied(
            epoch=before.context.epoch + 1,
            committer=committer,
            added=tuple(_member(tree, leaf) for leaf in applied.added),
            removed=tuple(Member.of(index, leaf) for index, leaf in applied.removed),
            updated=tuple(_member(tree, leaf) for leaf in applied.updated),
            removed_self=removed_self,
            reinit=applied.reinit is not None,
        )

    def _params(self) -> GroupParameters:
        context = self._epoch.context
        return GroupParameters(
            context.group_id,
            self.suite,
            context.extensions,
            context.version,
            credential_check=self._config.credential_check,
        )

    def _handshake_format(self) -> WireFormat:
        if self._config.handshake_private:
            return WireFormat.PRIVATE_MESSAGE
        return WireFormat.PUBLIC_MESSAGE

    def _protect(self, keys: protection.EpochKeys, authenticated: AuthenticatedContent) -> bytes:
        if authenticated.wire_format is WireFormat.PRIVATE_MESSAGE:
            return bytes(MLSMessage(protection.to_private(keys, authenticated, PADDING_BLOCK)))
        return bytes(MLSMessage(protection.to_public(keys, authenticated)))

    def _check_active(self) -> None:
        if not self._active:
            raise GroupInactive("this member is no longer in the group")

    def _psk_secret(self, psk_ids: Sequence[PreSharedKeyId]) -> bytes:
        return psk.psk_secret(self.suite, [(psk_id, self._psk(psk_id)) for psk_id in psk_ids])

    def _psk(self, psk_id: PreSharedKeyId) -> bytes:
        """§8.4: the secret a PreSharedKeyID names, from our store or our own history."""
        if psk_id.psk_type is PskType.EXTERNAL:
            secret = self._external_psks.get(psk_id.psk_id)
        else:
            secret = self._resumption_psks.get((psk_id.psk_group_id, psk_id.psk_epoch))
        if secret is None:
            raise UnknownPsk("RFC 9420 §8.4: a PreSharedKeyID names a PSK this client lacks")
        return secret

    # --- GroupInfo and Welcome (§12.4.3) ---------------------------------------------------

    # --- joining (§12.4.3.1, §12.4.3.2) -----------------------------------------------------

    @classmethod
    def join(
        cls,
        welcome_message: bytes,
        bundle: KeyPackageBundle,
        *,
        ratchet_tree: bytes | None = None,
        external_psks: Mapping[bytes, bytes] | None = None,
        reinit_from: Group | None = None,
        config: GroupConfig | None = None,
    ) -> Group:
        """§12.4.3.1: join from a Welcome built on ``bundle``'s KeyPackage. The ratchet
        tree comes from the GroupInfo's extension unless given out of band.

        ``reinit_from`` is the old group when this Welcome is for the group its ReInit
        asked for (§11.2): the Welcome must carry its reinit PSK, and the new group
        the ReInit's parameters."""
        config = config or GroupConfig()
        psks = dict(external_psks or {})
        reinit = None
        if reinit_from is not None:
            if reinit_from.reinit is None:
                raise InvalidWelcome("RFC 9420 §11.2: reinit_from was not reinitialized")
            reinit = joining.ReinitOrigin(
                reinit_from.reinit,
                reinit_from.group_id,
                reinit_from.epoch,
                reinit_from._epoch.secrets.resumption_psk,
            )
        epoch = joining.join_epoch(
            welcome_message, bundle, ratchet_tree, psks, config.credential_check, reinit
        )
        return cls(epoch, bundle.signer, config=config, external_psks=psks)

    @classmethod
    def join_external(
        cls,
        group_info_message: bytes,
        identity: bytes,
        signer: signing.SigningKey,
        *,
        ratchet_tree: bytes | None = None,
        resync_leaf: int | None = None,
        capabilities: Capabilities | None = None,
        config: GroupConfig | None = None,
    ) -> tuple[Group, bytes]:
        """§12.4.3.2: join by external commit from a published GroupInfo.

        Returns the group at the new epoch and the commit to send; use the group only
        once the Delivery Service accepted the commit. ``resync_leaf`` removes this
        client's own older leaf (a device rejoining after losing its state).
        """
        config = config or GroupConfig()
        epoch, commit_message = joining.external_join(
            group_info_message,
            identity,
            signer,
            ratchet_tree,
            resync_leaf,
            capabilities,
            config.credential_check,
            config.clock(),
        )
        return cls(epoch, signer, config=config), commit_message


@dataclass(frozen=True, slots=True, repr=False)
class _PendingCommit:
    """Our commit awaiting the Delivery Service's verdict, and the epoch it leads to."""

    content: FramedContent
    epoch: Epoch
    outcome: CommitApplied
    reinit: ReInit | None = None

    def encode(self, writer: Writer) -> None:
        self.content.encode(writer)
        self.epoch.encode(writer)
        outcome = self.outcome
        writer.uint32(outcome.committer)
        for members in (outcome.added, outcome.updated):
            writer.uint32(len(members))
            for member in members:
                writer.uint32(member.leaf_index)
        writer.uint32(len(outcome.removed))
        for member in outcome.removed:
            writer.uint32(member.leaf_index)
            member.leaf.encode(writer)
        writer.uint8(0 if self.reinit is None else 1)
        if self.reinit is not None:
            self.reinit.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> _PendingCommit:
        content = FramedContent.decode(reader)
        epoch = Epoch.decode(reader)
        committer = reader.uint32("PendingCommit.committer")
        added, updated = (
            tuple(
                _member(epoch.tree, reader.uint32("PendingCommit.leaf"))
                for _ in range(reader.uint32("PendingCommit.count"))
            )
            for _ in range(2)
        )
        removed = []
        for _ in range(reader.uint32("PendingCommit.removed")):
            index = reader.uint32("PendingCommit.leaf")
            removed.append(Member.of(index, LeafNode.decode(reader)))
        reinit = ReInit.decode(reader) if reader.uint8("PendingCommit.reinit") else None
        outcome = CommitApplied(
            epoch.context.epoch,
            committer,
            added,
            tuple(removed),
            updated,
            reinit=reinit is not None,
        )
        return cls(content, epoch, outcome, reinit)


@functools.lru_cache(maxsize=VERIFYING_KEY_CACHE)
def _verifying_key(public: bytes) -> signing.VerifyingKey:
    """A member's parsed Ed25519 key, kept across messages: parsing costs about as much
    as a tenth of a verification. Only keys of validated leaves (§7.3) come here."""
    return signing.VerifyingKey(public)


def _leaf_of(sender: Sender) -> int | None:
    return sender.index if sender.sender_type is SenderType.MEMBER else None


def _member(tree: RatchetTree, leaf_index: int) -> Member:
    leaf = tree.leaf(leaf_index)
    assert leaf is not None
    return Member.of(leaf_index, leaf)


def _key_package(value: KeyPackage | bytes) -> KeyPackage:
    """A KeyPackage, or the MLSMessage (or bare encoding) of one."""
    if isinstance(value, KeyPackage):
        return value
    try:
        message = MLSMessage.from_bytes(value)
    except DecodeError:
        return KeyPackage.from_bytes(value)
    if not isinstance(message.body, KeyPackage):
        raise DecodeError("expected a KeyPackage MLSMessage")
    return message.body
