"""Applying a commit: from one epoch to the next (RFC 9420 §12.3, §12.4.1, §12.4.2).

The committer and every receiver run the same steps on a copy of the current
tree: apply the proposals in the §12.3 order, merge the UpdatePath (creating it,
or decrypting our path secret from it), then run the key schedule over the new
GroupContext. :func:`apply_proposals` and :func:`next_epoch` are those shared
steps; :func:`create_path` and :func:`process_path` are the two sides of TreeKEM
(§7.4-§7.6) on top of the ratchet tree and the derivations of
:mod:`sottovoce.mls.treekem`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sottovoce.crypto import signing
from sottovoce.mls import key_schedule, transcript, tree_math
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.errors import InvalidCommit, InvalidWelcome, ValidationError
from sottovoce.mls.group.epoch import Epoch, new_secret_tree
from sottovoce.mls.group.proposals import ProposalInfo
from sottovoce.mls.leaf_validation import GroupParameters, validate_leaf_node
from sottovoce.mls.ratchet_tree import RatchetTree, subtree_leaves
from sottovoce.mls.treekem import (
    CreatedPath,
    TreePrivateKeys,
    create_update_path,
    process_update_path,
)
from sottovoce.mls.wire.extensions import Extension
from sottovoce.mls.wire.framing import FramedContent
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    ReInit,
    Remove,
    Update,
)
from sottovoce.mls.wire.psk import PreSharedKeyId
from sottovoce.mls.wire.registry import LeafNodeSource, SenderType
from sottovoce.mls.wire.update_path import UpdatePath


@dataclass(slots=True)
class Applied:
    """The effect of a commit's proposals on a copy of the tree (§12.3)."""

    tree: RatchetTree
    extensions: tuple[Extension, ...]
    added: list[int] = field(default_factory=list)
    removed: list[tuple[int, LeafNode]] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    psks: list[PreSharedKeyId] = field(default_factory=list)
    external_init: bytes | None = None
    reinit: ReInit | None = None


def apply_proposals(
    epoch: Epoch,
    proposals: Sequence[ProposalInfo],
    params: GroupParameters,
    *,
    now: int | None,
) -> Applied:
    """§12.3: GroupContextExtensions, then Updates, Removes, Adds (in list order), then
    the PSKs and ExternalInit in list order. New leaves are validated (§7.3) against
    the tree as it stands when they are placed."""
    tree = epoch.tree.copy()
    applied = Applied(tree, epoch.context.extensions)
    bodies = [(info, info.proposal.body) for info in proposals]
    for _, body in bodies:
        if isinstance(body, GroupContextExtensions):
            applied.extensions = body.extensions
    params = replace(params, extensions=applied.extensions)
    for info, body in bodies:
        if isinstance(body, Update):
            leaf_index = info.sender.index
            check_same_client(tree, leaf_index, body.leaf_node)
            validate_leaf_node(
                params,
                tree,
                body.leaf_node,
                source=LeafNodeSource.UPDATE,
                leaf_index=leaf_index,
                replaces=leaf_index,
            )
            tree.update_leaf(leaf_index, body.leaf_node)
            applied.updated.append(leaf_index)
    for _, body in bodies:
        if isinstance(body, Remove):
            old = tree.leaf(body.removed)
            if old is None:
                raise ValidationError(f"RFC 9420 §12.1.3: Remove of blank leaf {body.removed}")
            tree.remove_leaf(body.removed)
            applied.removed.append((body.removed, old))
    add_params = replace(params, now=now)
    for _, body in bodies:
        if isinstance(body, Add):
            leaf = body.key_package.leaf_node
            validate_leaf_node(add_params, tree, leaf, source=LeafNodeSource.KEY_PACKAGE)
            applied.added.append(tree.add_leaf(leaf))
    for _, body in bodies:
        if isinstance(body, PreSharedKey):
            applied.psks.append(body.psk)
        elif isinstance(body, ExternalInit):
            applied.external_init = body.kem_output
        elif isinstance(body, ReInit):
            applied.reinit = body
    return applied


def check_same_client(tree: RatchetTree, leaf_index: int, new_leaf: LeafNode) -> None:
    """§5.3.1: a member's new leaf (Update, UpdatePath) must name the same client as
    its old one. In Sottovoce a leaf is one device for good: a device cannot turn
    itself into another by updating its credential."""
    old = tree.leaf(leaf_index)
    if old is not None and old.credential != new_leaf.credential:
        raise ValidationError(
            f"RFC 9420 §5.3.1: leaf {leaf_index}'s new credential names another client"
        )


def provisional_context(epoch: Epoch, tree_hash: bytes, extensions: tuple[Extension, ...]) -> bytes:
    """§12.4.1 step 6 / §12.4.2: the GroupContext an UpdatePath is encrypted under: the
    next epoch, the new tree hash, the current confirmed transcript hash."""
    context = epoch.context
    return bytes(
        GroupContext(
            context.cipher_suite,
            context.group_id,
            context.epoch + 1,
            tree_hash,
            context.confirmed_transcript_hash,
            extensions,
            context.version,
        )
    )


def create_path(
    epoch: Epoch,
    applied: Applied,
    private: TreePrivateKeys,
    leaf_template: LeafNode,
    signer: signing.SigningKey,
) -> CreatedPath:
    """§12.4.1 steps 5-6: the committer's UpdatePath over ``applied.tree`` (TreeKEM,
    :func:`~sottovoce.mls.treekem.create_update_path`), encrypted under the
    provisional GroupContext and to no leaf this commit adds. ``private`` learns
    the new keys."""
    return create_update_path(
        applied.tree,
        private,
        leaf_template,
        signer,
        epoch.context.group_id,
        lambda tree_hash: provisional_context(epoch, tree_hash, applied.extensions),
        excluded=applied.added,
    )


def process_path(
    epoch: Epoch,
    applied: Applied,
    committer: int,
    path: UpdatePath,
    params: GroupParameters,
    private: TreePrivateKeys,
) -> bytes:
    """§12.4.2 steps: validate the committer's new leaf (§7.3, source commit), merge the
    UpdatePath and decrypt our path secret (TreeKEM,
    :func:`~sottovoce.mls.treekem.process_update_path`); returns the commit secret."""
    check_same_client(applied.tree, committer, path.leaf_node)
    validate_leaf_node(
        params,
        applied.tree,
        path.leaf_node,
        source=LeafNodeSource.COMMIT,
        leaf_index=committer,
        replaces=committer,
    )
    try:
        processed = process_update_path(
            applied.tree,
            private,
            committer,
            path,
            lambda tree_hash: provisional_context(epoch, tree_hash, applied.extensions),
            excluded=applied.added,
        )
    except ValidationError as exc:
        raise InvalidCommit(f"UpdatePath: {exc}") from exc
    return processed.commit_secret


def path_secret_for(tree: RatchetTree, created: CreatedPath, committer: int, leaf: int) -> bytes:
    """§12.4.3.1: the path secret of the lowest node of the committer's filtered direct
    path whose copath subtree holds the new member ``leaf``."""
    for parent, copath_child in tree.filtered_path_and_copath(committer):
        if leaf in subtree_leaves(copath_child):
            return created.path_secrets[parent]
    raise InvalidCommit("RFC 9420 §12.4.3.1: a new member is not below the committer's path")


def common_ancestor(tree: RatchetTree, committer: int, leaf: int) -> int:
    """§12.4.3.1: the node of the committer's filtered direct path whose path secret a
    Welcome gives the new member ``leaf``."""
    for parent, copath_child in tree.filtered_path_and_copath(committer):
        if leaf in subtree_leaves(copath_child):
            return parent
    raise InvalidWelcome("RFC 9420 §12.4.3.1: our leaf is not below the signer's path")


def forget_stale_keys(private: TreePrivateKeys, tree: RatchetTree) -> None:
    """Drop private keys of parent nodes that were blanked or replaced (§7.5)."""
    stale = []
    own_node = tree_math.leaf_to_node(private.leaf_index)
    for node_index in private.nodes:
        if node_index == own_node:
            continue
        node = tree.node(node_index) if node_index < tree.width else None
        key_pair = private.key_pair(node_index)
        if node is None or key_pair is None or node.encryption_key != key_pair.public:
            stale.append(node_index)
    private.forget(stale)


@dataclass(frozen=True, slots=True, repr=False)
class NextEpoch:
    """The next epoch's state and the confirmation tag proving it (§8, §8.2)."""

    epoch: Epoch
    confirmation_tag: bytes

    def __repr__(self) -> str:
        return f"NextEpoch({self.epoch.context.epoch})"


def next_epoch(
    suite: CipherSuite,
    epoch: Epoch,
    applied: Applied,
    content: FramedContent,
    wire_format: int,
    signature: bytes,
    *,
    commit_secret: bytes | None,
    psk_secret: bytes,
    private: TreePrivateKeys,
    init_secret: bytes | None = None,
) -> NextEpoch:
    """§8, §8.2: transcript hashes, the new GroupContext and its secrets.

    ``commit_secret`` is ``None`` for a commit without path (§8: all zeros);
    ``init_secret`` overrides the current epoch's for an external commit (§8.3).
    """
    confirmed_input = transcript.confirmed_transcript_hash_input(
        wire_format, bytes(content), signature
    )
    confirmed = transcript.confirmed_transcript_hash(
        suite, epoch.interim_transcript_hash, confirmed_input
    )
    old = epoch.context
    context = GroupContext(
        old.cipher_suite,
        old.group_id,
        old.epoch + 1,
        applied.tree.tree_hash(),
        confirmed,
        applied.extensions,
        old.version,
    )
    secrets = key_schedule.epoch_secrets(
        suite,
        epoch.secrets.init_secret if init_secret is None else init_secret,
        bytes(suite.hash_len) if commit_secret is None else commit_secret,
        psk_secret,
        bytes(context),
    )
    tag = transcript.confirmation_tag(suite, secrets.confirmation_key, confirmed)
    forget_stale_keys(private, applied.tree)
    new = Epoch(
        suite,
        context,
        applied.tree,
        secrets,
        new_secret_tree(suite, secrets, applied.tree),
        private,
        transcript.interim_transcript_hash(suite, confirmed, tag),
        tag,
    )
    return NextEpoch(new, tag)


def check_committer_sender(sender_type: SenderType) -> None:
    """§12.4: only members and new members (external commits) commit."""
    if sender_type not in (SenderType.MEMBER, SenderType.NEW_MEMBER_COMMIT):
        raise InvalidCommit(f"RFC 9420 §12.4: a {sender_type.name} sender cannot commit")
