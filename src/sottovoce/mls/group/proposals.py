"""Which proposals a commit may carry, and in what combination (RFC 9420 §12.1-§12.2,
§12.4.3.2).

A commit's proposals are checked as a list, before any is applied: each alone
(§12.1), then the combination (§12.2), with a typed :class:`InvalidProposal`
naming the rule that failed. The ratchet-tree consequences (leaf validity after
applying them) are checked by the tree as the proposals are applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.errors import CryptoFailure, InvalidKeyPackage, InvalidProposal
from sottovoce.mls.wire.extensions import Extension, RequiredCapabilities, find_extension
from sottovoce.mls.wire.framing import Sender
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    Proposal,
    ReInit,
    Remove,
    Update,
)
from sottovoce.mls.wire.psk import PskType, ResumptionPskUsage
from sottovoce.mls.wire.registry import (
    DEFAULT_EXTENSION_TYPES,
    DEFAULT_PROPOSAL_TYPES,
    ExtensionType,
    LeafNodeSource,
    ProposalType,
    SenderType,
)

# §12.4 Table (§17.4 "Path Required"): a commit must carry a path unless every
# proposal it applies is one of these.
PATH_OPTIONAL = frozenset({ProposalType.ADD, ProposalType.PSK, ProposalType.REINIT})

# §12.1.8 and §12.4.3.2: what each kind of sender may propose.
_EXTERNAL_SENDER_TYPES = frozenset(
    {
        ProposalType.ADD,
        ProposalType.REMOVE,
        ProposalType.PSK,
        ProposalType.REINIT,
        ProposalType.GROUP_CONTEXT_EXTENSIONS,
    }
)
_EXTERNAL_COMMIT_TYPES = frozenset(
    {ProposalType.EXTERNAL_INIT, ProposalType.REMOVE, ProposalType.PSK}
)


# §12.1.4: the resumption PSK usages a PreSharedKey proposal may carry in an
# ordinary commit, and in the first commit of a group that reinitializes another.
APPLICATION_USAGE = frozenset({ResumptionPskUsage.APPLICATION})
REINIT_USAGES = frozenset({ResumptionPskUsage.APPLICATION, ResumptionPskUsage.REINIT})

# Which client a leaf is (§5.3.3): two leaves with the same value are the same client.
IdentityOf = Callable[[LeafNode], bytes]


@dataclass(frozen=True, slots=True)
class ProposalInfo:
    """A proposal with who proposed it; ``ref`` is its ProposalRef when it was sent on
    its own (and committed by reference), ``None`` when carried inline by a commit."""

    proposal: Proposal
    sender: Sender
    ref: bytes | None = None


def client_identity(leaf: LeafNode) -> bytes:
    """§5.3.3: which client a leaf is: its credential (a Sottovoce device identity)."""
    return bytes(leaf.credential)


def path_required(proposals: Sequence[ProposalInfo]) -> bool:
    """§12.4: an empty commit, or one with any proposal outside PATH_OPTIONAL, needs a path."""
    return not proposals or any(
        info.proposal.proposal_type not in PATH_OPTIONAL for info in proposals
    )


def check_sender_may_propose(sender: Sender, proposal: Proposal) -> None:
    """§12.1.8, §12.1.8.1: external senders and new members may send only some kinds."""
    kind = proposal.proposal_type
    if sender.sender_type is SenderType.EXTERNAL and kind not in _EXTERNAL_SENDER_TYPES:
        raise InvalidProposal(f"RFC 9420 §12.1.8.1: an external sender cannot propose {kind.name}")
    if sender.sender_type is SenderType.NEW_MEMBER_PROPOSAL and kind is not ProposalType.ADD:
        raise InvalidProposal("RFC 9420 §12.1.8: a new_member_proposal sender only proposes Add")
    if kind is ProposalType.EXTERNAL_INIT:
        raise InvalidProposal("RFC 9420 §12.1.6: ExternalInit is valid only in an external commit")


def supports_extensions(leaf: LeafNode, types: Sequence[int]) -> bool:
    supported = set(leaf.capabilities.extensions) | DEFAULT_EXTENSION_TYPES
    return all(kind in supported for kind in types)


def meets_required_capabilities(leaf: LeafNode, extensions: Sequence[Extension]) -> bool:
    """§11.1: a leaf supports every extension, proposal and credential type the
    group's required_capabilities extension lists."""
    found = find_extension(extensions, ExtensionType.REQUIRED_CAPABILITIES)
    if found is None:
        return True
    required = RequiredCapabilities.from_bytes(found.extension_data)
    caps = leaf.capabilities
    return (
        all(
            kind in set(caps.extensions) | DEFAULT_EXTENSION_TYPES
            for kind in required.extension_types
        )
        and all(
            kind in set(caps.proposals) | DEFAULT_PROPOSAL_TYPES for kind in required.proposal_types
        )
        and all(kind in caps.credentials for kind in required.credential_types)
    )


def check_key_package(suite: CipherSuite, context: GroupContext, key_package: KeyPackage) -> None:
    """§10.1: suite and version match the group, the signature verifies, and the init
    key differs from the leaf's encryption key. (§7.3 leaf checks are the tree's.)"""
    if key_package.cipher_suite != context.cipher_suite or key_package.version != context.version:
        raise InvalidKeyPackage(
            "RFC 9420 §10.1: KeyPackage suite or version differs from the group's"
        )
    if key_package.leaf_node.leaf_node_source is not LeafNodeSource.KEY_PACKAGE:
        raise InvalidKeyPackage("RFC 9420 §10.1: KeyPackage leaf_node_source is not key_package")
    if key_package.init_key == key_package.leaf_node.encryption_key:
        raise InvalidKeyPackage("RFC 9420 §10.1: init_key equals the leaf encryption_key")
    try:
        key_package.verify_signature(suite)
    except CryptoFailure as exc:
        raise InvalidKeyPackage(f"RFC 9420 §10.1: KeyPackage signature: {exc}") from exc


def check_psk(
    suite: CipherSuite,
    proposal: PreSharedKey,
    usages: frozenset[ResumptionPskUsage] = APPLICATION_USAGE,
) -> None:
    """§12.1.4: an external PSK, or a resumption PSK of a usage allowed here (reinit
    only in the first commit of a reinitialized group, §11.2), with an Nh-byte nonce."""
    psk = proposal.psk
    if psk.psk_type is PskType.RESUMPTION and psk.usage not in usages:
        raise InvalidProposal(
            f"RFC 9420 §12.1.4: a resumption PSK of usage {psk.usage.name} is not allowed here"
        )
    if len(psk.psk_nonce) != suite.hash_len:
        raise InvalidProposal(f"RFC 9420 §12.1.4: psk_nonce must be {suite.hash_len} bytes")


def check_list(
    suite: CipherSuite,
    context: GroupContext,
    members: dict[int, LeafNode],
    proposals: Sequence[ProposalInfo],
    committer: Sender,
    identity_of: IdentityOf,
    *,
    psk_usages: frozenset[ResumptionPskUsage] = APPLICATION_USAGE,
) -> None:
    """§12.2 (and §12.4.3.2 for an external commit): the proposals a commit applies.

    ``members`` maps the occupied leaves to their nodes; ``identity_of`` says which
    client a leaf is (§5.3.3), so Adds of a client already present are caught.
    """
    external = committer.sender_type is SenderType.NEW_MEMBER_COMMIT
    kinds = [info.proposal.proposal_type for info in proposals]
    if external:
        _check_external_commit_list(proposals, members, kinds)
    elif ProposalType.EXTERNAL_INIT in kinds:
        raise InvalidProposal("RFC 9420 §12.2: ExternalInit in a commit by a member")
    if ProposalType.REINIT in kinds and len(kinds) > 1:
        raise InvalidProposal("RFC 9420 §12.2: ReInit together with other proposals")
    if kinds.count(ProposalType.GROUP_CONTEXT_EXTENSIONS) > 1:
        raise InvalidProposal("RFC 9420 §12.2: more than one GroupContextExtensions proposal")

    changed: set[int] = set()
    removed: set[int] = set()
    psk_ids: set[bytes] = set()
    for info in proposals:
        body = info.proposal.body
        if isinstance(body, Update):
            if info.sender.sender_type is not SenderType.MEMBER:
                raise InvalidProposal("RFC 9420 §12.1.2: an Update comes from a member")
            if not external and info.sender.index == committer.index:
                raise InvalidProposal("RFC 9420 §12.2: an Update proposal by the committer")
            leaf = info.sender.index
            if leaf in changed:
                raise InvalidProposal(
                    f"RFC 9420 §12.2: two Update/Remove proposals for leaf {leaf}"
                )
            changed.add(leaf)
        elif isinstance(body, Remove):
            leaf = body.removed
            if leaf not in members:
                raise InvalidProposal(f"RFC 9420 §12.1.3: Remove of blank or absent leaf {leaf}")
            if not external and leaf == committer.index:
                raise InvalidProposal("RFC 9420 §12.2: a Remove proposal removes the committer")
            if leaf in changed:
                raise InvalidProposal(
                    f"RFC 9420 §12.2: two Update/Remove proposals for leaf {leaf}"
                )
            changed.add(leaf)
            removed.add(leaf)
        elif isinstance(body, PreSharedKey):
            check_psk(suite, body, psk_usages)
            encoded = bytes(body.psk)
            if encoded in psk_ids:
                raise InvalidProposal("RFC 9420 §12.2: two PreSharedKey proposals for one PSK")
            psk_ids.add(encoded)
        elif isinstance(body, ReInit):
            if body.version < context.version:
                raise InvalidProposal("RFC 9420 §12.1.5: ReInit to an older protocol version")
        elif isinstance(body, GroupContextExtensions):
            _check_group_context_extensions(body, members, removed)
        elif isinstance(body, Add):
            check_key_package(suite, context, body.key_package)

    adds = [info.proposal.body for info in proposals if isinstance(info.proposal.body, Add)]
    present = {identity_of(leaf): index for index, leaf in members.items()} if adds else {}
    added: set[bytes] = set()
    for body in adds:
        identity = identity_of(body.key_package.leaf_node)
        if identity in added:
            raise InvalidProposal("RFC 9420 §12.2: two Add proposals for the same client")
        added.add(identity)
        if identity in present and present[identity] not in removed:
            raise InvalidProposal("RFC 9420 §12.2: Add of a client already in the group")

    _check_proposal_types_supported(members, removed, proposals)


def _check_external_commit_list(
    proposals: Sequence[ProposalInfo], members: dict[int, LeafNode], kinds: list[ProposalType]
) -> None:
    """§12.4.3.2: exactly one ExternalInit, at most one Remove, PSKs; all inline."""
    if kinds.count(ProposalType.EXTERNAL_INIT) != 1:
        raise InvalidProposal("RFC 9420 §12.4.3.2: an external commit has exactly one ExternalInit")
    if kinds.count(ProposalType.REMOVE) > 1:
        raise InvalidProposal("RFC 9420 §12.4.3.2: an external commit removes at most one leaf")
    for info in proposals:
        if info.ref is not None:
            raise InvalidProposal(
                "RFC 9420 §12.4.3.2: an external commit has proposals by reference"
            )
        if info.proposal.proposal_type not in _EXTERNAL_COMMIT_TYPES:
            raise InvalidProposal(
                f"RFC 9420 §12.4.3.2: {info.proposal.proposal_type.name} in an external commit"
            )
        if isinstance(info.proposal.body, ExternalInit) and not info.proposal.body.kem_output:
            raise InvalidProposal("RFC 9420 §12.1.6: empty ExternalInit kem_output")


def _check_group_context_extensions(
    body: GroupContextExtensions, members: dict[int, LeafNode], removed: set[int]
) -> None:
    """§12.1.7: every member that stays supports every new extension and any new
    required capabilities."""
    types = [extension.extension_type for extension in body.extensions]
    for index, leaf in members.items():
        if index in removed:
            continue
        if not supports_extensions(leaf, types):
            raise InvalidProposal(
                f"RFC 9420 §12.1.7: leaf {index} does not support the new group extensions"
            )
        if not meets_required_capabilities(leaf, body.extensions):
            raise InvalidProposal(
                f"RFC 9420 §11.1: leaf {index} lacks the new required capabilities"
            )


def _check_proposal_types_supported(
    members: dict[int, LeafNode], removed: set[int], proposals: Sequence[ProposalInfo]
) -> None:
    """§12.2: a non-default proposal type must be supported by every remaining member."""
    for info in proposals:
        kind = int(info.proposal.proposal_type)
        if kind in DEFAULT_PROPOSAL_TYPES:
            continue
        for index, leaf in members.items():
            if index not in removed and kind not in leaf.capabilities.proposals:
                raise InvalidProposal(
                    f"RFC 9420 §12.2: leaf {index} does not support proposal type {kind}"
                )
