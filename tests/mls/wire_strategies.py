"""Hypothesis strategies for every RFC 9420 wire structure (tests/mls)."""

from __future__ import annotations

from hypothesis import strategies as st

from sottovoce.mls.wire.commit import Commit, ProposalOrRef
from sottovoce.mls.wire.credentials import Certificate, Credential
from sottovoce.mls.wire.extensions import Extension
from sottovoce.mls.wire.framing import (
    FramedContent,
    FramedContentAuthData,
    PrivateMessage,
    PublicMessage,
    Sender,
    SenderData,
)
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.group_info import GroupInfo
from sottovoce.mls.wire.hpke import HPKECiphertext
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.leaf_node import Capabilities, LeafNode, Lifetime
from sottovoce.mls.wire.message import MLSMessage
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
from sottovoce.mls.wire.psk import PreSharedKeyId, ResumptionPskUsage
from sottovoce.mls.wire.registry import ContentType, CredentialType, LeafNodeSource, SenderType
from sottovoce.mls.wire.tree import Node, ParentNode
from sottovoce.mls.wire.update_path import UpdatePath, UpdatePathNode
from sottovoce.mls.wire.welcome import EncryptedGroupSecrets, GroupSecrets, PathSecret, Welcome

small = st.binary(max_size=12)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 2**64 - 1)
u16s = st.lists(u16, max_size=4).map(tuple)


@st.composite
def extension_lists(draw: st.DrawFn) -> tuple[Extension, ...]:
    types = draw(st.lists(u16, max_size=3, unique=True))
    return tuple(Extension(kind, draw(small)) for kind in types)


credentials = st.one_of(
    st.builds(Credential.basic, small),
    st.builds(
        lambda certs: Credential(CredentialType.X509, certificates=tuple(certs)),
        st.lists(st.builds(Certificate, small), max_size=3),
    ),
)
capabilities = st.builds(Capabilities, u16s, u16s, u16s, u16s, u16s)
lifetimes = st.builds(Lifetime, u64, u64)


@st.composite
def leaf_nodes(draw: st.DrawFn) -> LeafNode:
    source = draw(st.sampled_from(list(LeafNodeSource)))
    return LeafNode(
        draw(small),
        draw(small),
        draw(credentials),
        draw(capabilities),
        source,
        lifetime=draw(lifetimes) if source is LeafNodeSource.KEY_PACKAGE else None,
        parent_hash=draw(small) if source is LeafNodeSource.COMMIT else b"",
        extensions=draw(extension_lists()),
        signature=draw(small),
    )


key_packages = st.builds(KeyPackage, u16, u16, small, leaf_nodes(), extension_lists(), small)
parent_nodes = st.builds(ParentNode, small, small, st.lists(u32, max_size=3).map(tuple))
nodes = st.one_of(st.builds(Node, leaf=leaf_nodes()), st.builds(Node, parent=parent_nodes))
psk_ids = st.one_of(
    st.builds(PreSharedKeyId.external, small, small),
    st.builds(
        PreSharedKeyId.resumption, st.sampled_from(list(ResumptionPskUsage)), small, u64, small
    ),
)
hpke_ciphertexts = st.builds(HPKECiphertext, small, small)
proposal_bodies = st.one_of(
    st.builds(Add, key_packages),
    st.builds(Update, leaf_nodes()),
    st.builds(Remove, u32),
    st.builds(PreSharedKey, psk_ids),
    st.builds(ReInit, small, u16, u16, extension_lists()),
    st.builds(ExternalInit, small),
    st.builds(GroupContextExtensions, extension_lists()),
)
proposals = st.builds(Proposal, proposal_bodies)
update_paths = st.builds(
    UpdatePath,
    leaf_nodes(),
    st.lists(
        st.builds(UpdatePathNode, small, st.lists(hpke_ciphertexts, max_size=2).map(tuple)),
        max_size=3,
    ).map(tuple),
)
proposal_or_refs = st.one_of(
    st.builds(lambda p: ProposalOrRef(proposal=p), proposals),
    st.builds(lambda r: ProposalOrRef(reference=r), small),
)
commits = st.builds(
    Commit, st.lists(proposal_or_refs, max_size=3).map(tuple), st.none() | update_paths
)
group_contexts = st.builds(GroupContext, u16, small, u64, small, small, extension_lists())
group_infos = st.builds(GroupInfo, group_contexts, extension_lists(), small, u32, small)
group_secrets = st.builds(
    GroupSecrets,
    small,
    st.none() | st.builds(PathSecret, small),
    st.lists(psk_ids, max_size=2).map(tuple),
)
welcomes = st.builds(
    Welcome,
    u16,
    st.lists(st.builds(EncryptedGroupSecrets, small, hpke_ciphertexts), max_size=3).map(tuple),
    small,
)
senders = st.one_of(
    st.builds(Sender, st.sampled_from([SenderType.MEMBER, SenderType.EXTERNAL]), u32),
    st.builds(
        Sender, st.sampled_from([SenderType.NEW_MEMBER_COMMIT, SenderType.NEW_MEMBER_PROPOSAL])
    ),
)
contents = st.one_of(small, proposals, commits)


@st.composite
def public_messages(draw: st.DrawFn) -> PublicMessage:
    content = FramedContent(draw(small), draw(u64), draw(senders), draw(small), draw(contents))
    tag = draw(small) if content.content_type is ContentType.COMMIT else None
    auth = FramedContentAuthData(draw(small), tag)
    membership = draw(small) if content.sender.sender_type is SenderType.MEMBER else None
    return PublicMessage(content, auth, membership)


private_messages = st.builds(
    PrivateMessage, small, u64, st.sampled_from(list(ContentType)), small, small, small
)
sender_data = st.builds(SenderData, u32, u32, st.binary(min_size=4, max_size=4))
mls_messages = st.builds(
    MLSMessage, st.one_of(public_messages(), private_messages, welcomes, group_infos, key_packages)
)
