"""Joining a group: Welcomes, GroupInfo and external commits (RFC 9420 §12.4.3).

The committer side builds the signed GroupInfo of the new epoch and the Welcome
that carries it, encrypted once, to every added member (§12.4.3.1). The joiner
side opens a Welcome, or builds an external commit from a published GroupInfo
(§12.4.3.2), checking the tree it is handed in full before trusting it. Each
returns the :class:`~sottovoce.mls.group.epoch.Epoch` the new member starts in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sottovoce.crypto import signing
from sottovoce.mls import key_schedule, psk, transcript, welcome
from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.errors import InvalidProposal, InvalidWelcome, UnknownPsk, ValidationError
from sottovoce.mls.group import commit as commits
from sottovoce.mls.group import protection
from sottovoce.mls.group.epoch import Epoch, new_secret_tree
from sottovoce.mls.group.key_packages import KeyPackageBundle
from sottovoce.mls.group.proposals import ProposalInfo, check_list, client_identity
from sottovoce.mls.leaf_validation import CredentialCheck, GroupParameters, validate_tree_leaves
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.treekem import CreatedPath, TreePrivateKeys, install_path_secret
from sottovoce.mls.wire.commit import Commit, ProposalOrRef
from sottovoce.mls.wire.extensions import ExternalPub, find_extension, typed_extension
from sottovoce.mls.wire.framing import (
    AuthenticatedContent,
    FramedContent,
    FramedContentAuthData,
    Sender,
)
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.group_info import GroupInfo
from sottovoce.mls.wire.hpke import HPKECiphertext
from sottovoce.mls.wire.leaf_node import Capabilities, LeafNode
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.proposals import Add, ExternalInit, Proposal, ReInit, Remove
from sottovoce.mls.wire.psk import PreSharedKeyId, PskType, ResumptionPskUsage
from sottovoce.mls.wire.registry import ExtensionType, ProtocolVersion, SenderType, WireFormat
from sottovoce.mls.wire.tree import RatchetTreeNodes
from sottovoce.mls.wire.welcome import EncryptedGroupSecrets, GroupSecrets, PathSecret, Welcome


def build_group_info(
    epoch: Epoch, signer: signing.SigningKey, with_ratchet_tree: bool
) -> GroupInfo:
    """§12.4.3: the signed GroupInfo of ``epoch``, with external_pub (§12.4.3.2)."""
    suite = epoch.suite
    external_pub = key_schedule.external_key_pair(suite, epoch.secrets.external_secret)
    extensions = [typed_extension(ExtensionType.EXTERNAL_PUB, ExternalPub(external_pub.public))]
    if with_ratchet_tree:
        extensions.append(typed_extension(ExtensionType.RATCHET_TREE, epoch.tree.to_wire()))
    return GroupInfo(
        epoch.context, tuple(extensions), epoch.confirmation_tag, epoch.own_leaf
    ).signed(suite, signer)


def build_welcome(
    epoch: Epoch,
    group_info: GroupInfo,
    infos: Sequence[ProposalInfo],
    applied: commits.Applied,
    created: CreatedPath | None,
) -> bytes:
    """§12.4.3.1: GroupSecrets for each added member, and the GroupInfo encrypted once."""
    suite = epoch.suite
    encrypted_group_info = welcome.encrypt_group_info(
        suite, epoch.secrets.welcome_secret, bytes(group_info)
    )
    key_packages = [
        info.proposal.body.key_package for info in infos if isinstance(info.proposal.body, Add)
    ]
    entries = []
    for key_package, leaf_index in zip(key_packages, applied.added, strict=True):
        path_secret = None
        if created is not None:
            path_secret = commits.path_secret_for(applied.tree, created, epoch.own_leaf, leaf_index)
        secrets = GroupSecrets(
            epoch.secrets.joiner_secret,
            None if path_secret is None else PathSecret(path_secret),
            tuple(applied.psks),
        )
        kem_output, ciphertext = welcome.encrypt_group_secrets(
            suite, key_package.init_key, encrypted_group_info, bytes(secrets)
        )
        entries.append(
            EncryptedGroupSecrets(key_package.ref(suite), HPKECiphertext(kem_output, ciphertext))
        )
    return bytes(MLSMessage(Welcome(suite.id, tuple(entries), encrypted_group_info)))


# --- the joiner's side ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class ReinitOrigin:
    """§11.2: the group a Welcome's group reinitializes: its ReInit proposal, and the
    resumption PSK of its last epoch that binds the two."""

    reinit: ReInit
    group_id: bytes
    epoch: int
    resumption_psk: bytes

    def names(self, psk_id: PreSharedKeyId) -> bool:
        return (
            psk_id.psk_type is PskType.RESUMPTION
            and psk_id.usage is ResumptionPskUsage.REINIT
            and psk_id.psk_group_id == self.group_id
            and psk_id.psk_epoch == self.epoch
        )

    def check(self, context: GroupContext) -> None:
        """§11.2: the new group has the group id, suite, version and extensions the
        ReInit asked for."""
        reinit = self.reinit
        if (
            context.group_id != reinit.group_id
            or context.cipher_suite != reinit.cipher_suite
            or context.version != reinit.version
            or context.extensions != reinit.extensions
        ):
            raise InvalidWelcome("RFC 9420 §11.2: the new group differs from the ReInit")


def join_epoch(
    welcome_message: bytes,
    bundle: KeyPackageBundle,
    ratchet_tree: bytes | None,
    psks: Mapping[bytes, bytes],
    credential_check: CredentialCheck | None,
    reinit: ReinitOrigin | None = None,
) -> Epoch:
    """§12.4.3.1: join from a Welcome built on ``bundle``'s KeyPackage. The ratchet
    tree comes from the GroupInfo's extension unless given out of band."""
    message = MLSMessage.from_bytes(welcome_message)
    if not isinstance(message.body, Welcome):
        raise InvalidWelcome("RFC 9420 §12.4.3.1: the message is not a Welcome")
    body = message.body
    suite = bundle.suite
    if body.cipher_suite != suite.id:
        raise InvalidWelcome(
            "RFC 9420 §12.4.3.1: Welcome cipher suite differs from the KeyPackage's"
        )
    entry = body.secrets_for(bundle.ref)
    if entry is None:
        raise InvalidWelcome("RFC 9420 §12.4.3.1: the Welcome has no secrets for our KeyPackage")
    secrets = GroupSecrets.from_bytes(
        welcome.decrypt_group_secrets(
            suite,
            bundle.init_key_pair,
            body.encrypted_group_info,
            entry.encrypted_group_secrets.kem_output,
            entry.encrypted_group_secrets.ciphertext,
        )
    )
    pairs = []
    for psk_id in secrets.psks:
        if psk_id.psk_type is PskType.EXTERNAL and psk_id.psk_id in psks:
            pairs.append((psk_id, psks[psk_id.psk_id]))
        elif reinit is not None and reinit.names(psk_id):
            pairs.append((psk_id, reinit.resumption_psk))
        else:
            raise UnknownPsk("RFC 9420 §12.4.3.1: the Welcome names a PSK this client lacks")
    if reinit is not None and not any(reinit.names(psk_id) for psk_id in secrets.psks):
        raise InvalidWelcome("RFC 9420 §11.2: the Welcome lacks the old group's reinit PSK")
    psk_secret = psk.psk_secret(suite, pairs)
    welcome_secret = key_schedule.welcome_secret(suite, secrets.joiner_secret, psk_secret)
    group_info = GroupInfo.from_bytes(
        welcome.decrypt_group_info(suite, welcome_secret, body.encrypted_group_info)
    )
    context = group_info.group_context
    if context.cipher_suite != suite.id or context.version != ProtocolVersion.MLS10:
        raise InvalidWelcome("RFC 9420 §12.4.3.1: GroupInfo suite or version mismatch")
    if reinit is not None:
        reinit.check(context)
    tree = joined_tree(suite, group_info, ratchet_tree, credential_check)
    signer_leaf = tree.leaf(group_info.signer) if group_info.signer < tree.n_leaves else None
    if signer_leaf is None:
        raise InvalidWelcome("RFC 9420 §12.4.3.1: GroupInfo signer is not a member")
    group_info.verify_signature(suite, signer_leaf.signature_key)
    own = tree.find_leaf(bundle.key_package.leaf_node)
    if own is None:
        raise InvalidWelcome("RFC 9420 §12.4.3.1: our leaf is not in the ratchet tree")
    private = TreePrivateKeys(own, bundle.encryption_key_pair)
    if secrets.path_secret is not None:
        node = commits.common_ancestor(tree, group_info.signer, own)
        try:
            install_path_secret(
                tree, private, group_info.signer, node, secrets.path_secret.path_secret
            )
        except ValidationError as exc:
            raise InvalidWelcome(f"RFC 9420 §12.4.3.1: path_secret: {exc}") from exc
    epoch_secrets = welcome.joiner_epoch(
        suite,
        secrets.joiner_secret,
        psk_secret,
        bytes(context),
        context.confirmed_transcript_hash,
        group_info.confirmation_tag,
    )
    return Epoch(
        suite,
        context,
        tree,
        epoch_secrets,
        new_secret_tree(suite, epoch_secrets, tree),
        private,
        transcript.interim_transcript_hash(
            suite, context.confirmed_transcript_hash, group_info.confirmation_tag
        ),
        group_info.confirmation_tag,
    )


def external_join(
    group_info_message: bytes,
    identity: bytes,
    signer: signing.SigningKey,
    ratchet_tree: bytes | None,
    resync_leaf: int | None,
    capabilities: Capabilities | None,
    credential_check: CredentialCheck | None,
    now: int,
) -> tuple[Epoch, bytes]:
    """§12.4.3.2: join by external commit from a published GroupInfo.

    Returns the group at the new epoch and the commit to send; use the group only
    once the Delivery Service accepted the commit. ``resync_leaf`` removes this
    client's own older leaf (a device rejoining after losing its state).
    """
    message = MLSMessage.from_bytes(group_info_message)
    if not isinstance(message.body, GroupInfo):
        raise InvalidWelcome("RFC 9420 §12.4.3.2: the message is not a GroupInfo")
    group_info = message.body
    context = group_info.group_context
    suite = cipher_suite(context.cipher_suite)
    tree = joined_tree(suite, group_info, ratchet_tree, credential_check)
    signer_leaf = tree.leaf(group_info.signer) if group_info.signer < tree.n_leaves else None
    if signer_leaf is None:
        raise InvalidWelcome("RFC 9420 §12.4.3.2: GroupInfo signer is not a member")
    group_info.verify_signature(suite, signer_leaf.signature_key)
    found = find_extension(group_info.extensions, ExtensionType.EXTERNAL_PUB)
    if found is None:
        raise InvalidWelcome("RFC 9420 §12.4.3.2: GroupInfo has no external_pub")
    external_pub = ExternalPub.from_bytes(found.extension_data).external_pub
    kem_output, init_secret = key_schedule.external_init_sender(suite, external_pub)

    # The joiner's view of the epoch it joins: the public state only.
    placeholder = KeyPackageBundle.create(
        suite.id, identity, signer, capabilities=capabilities, now=now
    )
    current = Epoch(
        suite,
        context,
        tree,
        public_only_secrets(suite),
        new_secret_tree(suite, public_only_secrets(suite), tree),
        TreePrivateKeys(0, placeholder.encryption_key_pair),
        transcript.interim_transcript_hash(
            suite, context.confirmed_transcript_hash, group_info.confirmation_tag
        ),
        group_info.confirmation_tag,
    )
    proposals = [Proposal(ExternalInit(kem_output))]
    if resync_leaf is not None:
        proposals.append(Proposal(Remove(resync_leaf)))
    sender = Sender(SenderType.NEW_MEMBER_COMMIT)
    infos = [ProposalInfo(p, sender) for p in proposals]
    check_list(suite, context, dict(tree.members()), infos, sender, client_identity)
    params = GroupParameters(
        context.group_id,
        suite,
        context.extensions,
        context.version,
        credential_check=credential_check,
    )
    applied = commits.apply_proposals(current, infos, params, now=now)
    template = placeholder.key_package.leaf_node
    check_resync(applied, template)
    own = applied.tree.add_leaf(template)
    private = TreePrivateKeys(own, placeholder.encryption_key_pair)
    created = commits.create_path(current, applied, private, template, signer)
    body = Commit(tuple(ProposalOrRef(proposal=p) for p in proposals), created.update_path)
    keys = current.keys()
    content = FramedContent(context.group_id, context.epoch, sender, b"", body)
    signature = protection.signature(keys, signer, WireFormat.PUBLIC_MESSAGE, content)
    nxt = commits.next_epoch(
        suite,
        current,
        applied,
        content,
        WireFormat.PUBLIC_MESSAGE,
        signature,
        commit_secret=created.commit_secret,
        psk_secret=psk.psk_secret(suite, []),
        private=private,
        init_secret=init_secret,
    )
    authenticated = AuthenticatedContent(
        WireFormat.PUBLIC_MESSAGE,
        content,
        FramedContentAuthData(signature, nxt.confirmation_tag),
    )
    commit_message = bytes(MLSMessage(protection.to_public(keys, authenticated)))
    return nxt.epoch, commit_message


def check_resync(applied: commits.Applied, new_leaf: LeafNode) -> None:
    """§12.4.3.2: an external commit may remove only the joiner's own older leaf."""
    for _, removed in applied.removed:
        if removed.credential != new_leaf.credential:
            raise InvalidProposal(
                "RFC 9420 §12.4.3.2: an external commit removes a leaf of another client"
            )


def joined_tree(
    suite: CipherSuite,
    group_info: GroupInfo,
    ratchet_tree: bytes | None,
    credential_check: CredentialCheck | None,
) -> RatchetTree:
    """§12.4.3.1: the tree from the ratchet_tree extension or out of band, checked in
    full: tree hash, parent hashes, unmerged leaves and every leaf (§7.3)."""
    context = group_info.group_context
    if ratchet_tree is None:
        found = find_extension(group_info.extensions, ExtensionType.RATCHET_TREE)
        if found is None:
            raise InvalidWelcome("RFC 9420 §12.4.3.3: no ratchet tree in or with the Welcome")
        nodes = RatchetTreeNodes.from_bytes(found.extension_data)
    else:
        nodes = RatchetTreeNodes.from_bytes(ratchet_tree)
    tree = RatchetTree.from_wire(suite, nodes)
    if tree.tree_hash() != context.tree_hash:
        raise InvalidWelcome("RFC 9420 §12.4.3.1: ratchet tree hash differs from the GroupContext")
    tree.check_integrity()
    validate_tree_leaves(
        GroupParameters(
            context.group_id,
            suite,
            context.extensions,
            context.version,
            credential_check=credential_check,
        ),
        tree,
    )
    return tree


def public_only_secrets(suite: CipherSuite) -> key_schedule.EpochSecrets:
    """Placeholder secrets for the epoch an external joiner commits to: it knows none of
    them, and uses only the public state of that epoch (§12.4.3.2)."""
    zero = bytes(suite.hash_len)
    return key_schedule.EpochSecrets(*([zero] * 12))
