"""Invalid proposals and commits are rejected with the RFC rule they break, and leave
the group untouched (RFC 9420 §10.1, §12.1, §12.2, §12.4.2)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from sottovoce.crypto import signing
from sottovoce.mls.errors import (
    CryptoFailure,
    InvalidCommit,
    InvalidKeyPackage,
    InvalidProposal,
    InvalidWelcome,
    MLSError,
    UnknownPsk,
    ValidationError,
)
from sottovoce.mls.group import Group, GroupConfig, KeyPackageBundle, protection
from sottovoce.mls.wire.commit import Commit, ProposalOrRef
from sottovoce.mls.wire.extensions import Extension, RequiredCapabilities, typed_extension
from sottovoce.mls.wire.framing import AuthenticatedContent, FramedContentAuthData, Sender
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    Proposal,
    ReInit,
    Remove,
)
from sottovoce.mls.wire.psk import PreSharedKeyId
from sottovoce.mls.wire.registry import ExtensionType, WireFormat

from .group_support import build, identity, key_package, rejects

PUBLIC = GroupConfig(handshake_private=False)


def forge(group: Group, body: Commit, tag: bytes | None = None) -> bytes:
    """A commit by ``group``'s member, validly signed and tagged as a member, whose
    content is whatever the test needs (confirmation tag arbitrary)."""
    epoch = group._epoch
    keys = epoch.keys()
    content = protection.framed(keys, Sender.member(epoch.own_leaf), body, b"")
    signature = protection.signature(keys, group._signer, WireFormat.PUBLIC_MESSAGE, content)
    authenticated = AuthenticatedContent(
        WireFormat.PUBLIC_MESSAGE, content, FramedContentAuthData(signature, tag or bytes(32))
    )
    return bytes(MLSMessage(protection.to_public(keys, authenticated)))


def inline(*proposals: Proposal) -> tuple[ProposalOrRef, ...]:
    return tuple(ProposalOrRef(proposal=p) for p in proposals)


@pytest.fixture
def network():  # type: ignore[no-untyped-def]
    return build(4, config=PUBLIC)


def test_bad_confirmation_tag(network) -> None:  # type: ignore[no-untyped-def]
    bundle = network.members[0].commit(remove=[3])
    message = MLSMessage.from_bytes(bundle.commit).body
    # Re-forging with the same proposals but another tag: only the tag is wrong.
    forged = forge(network.members[0], message.content.content, tag=b"\x01" * 32)
    assert "confirmation_tag" in str(rejects(network.members[1], forged))


def test_tampered_commit_fails_membership_tag(network) -> None:  # type: ignore[no-untyped-def]
    bundle = network.members[0].commit()
    damaged = bytearray(bundle.commit)
    damaged[-40] ^= 1
    exc = rejects(network.members[1], bytes(damaged))
    assert isinstance(exc, (CryptoFailure, ValidationError))


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("remove_committer", "removes the committer"),
        ("remove_blank", "§12.1.3"),
        ("two_removes", "two Update/Remove"),
        ("add_present", "already in the group"),
        ("two_adds_same_client", "two Add proposals"),
        ("two_gce", "more than one GroupContextExtensions"),
        ("reinit_with_other", "ReInit together"),
        ("external_init_by_member", "ExternalInit"),
        ("psk_bad_nonce", "psk_nonce"),
        ("duplicate_psk", "two PreSharedKey"),
        ("unknown_reference", "unknown proposal"),
        ("missing_path", "require a commit with a path"),
        ("gce_unsupported", "§11.1"),
    ],
)
def test_invalid_proposal_lists(network, case: str, rule: str) -> None:  # type: ignore[no-untyped-def]
    committer = network.members[0]
    kp = key_package(40).key_package
    nonce = bytes(32)
    psk = PreSharedKeyId.external(b"ext", nonce)
    network.members[1].add_external_psk(b"ext", b"secret")
    required = typed_extension(
        ExtensionType.REQUIRED_CAPABILITIES, RequiredCapabilities(extension_types=(0x0F0F,))
    )
    bodies = {
        "remove_committer": Commit(inline(Proposal(Remove(0)))),
        "remove_blank": Commit(inline(Proposal(Remove(9)))),
        "two_removes": Commit(inline(Proposal(Remove(2)), Proposal(Remove(2)))),
        "add_present": Commit(inline(Proposal(Add(key_package(1).key_package)))),
        "two_adds_same_client": Commit(inline(Proposal(Add(kp)), Proposal(Add(kp)))),
        "two_gce": Commit(
            inline(Proposal(GroupContextExtensions(())), Proposal(GroupContextExtensions(())))
        ),
        "reinit_with_other": Commit(inline(Proposal(ReInit(b"new", 1, 1)), Proposal(Remove(2)))),
        "external_init_by_member": Commit(inline(Proposal(ExternalInit(b"\x01" * 32)))),
        "psk_bad_nonce": Commit(
            inline(Proposal(PreSharedKey(PreSharedKeyId.external(b"ext", b"short"))))
        ),
        "duplicate_psk": Commit(inline(Proposal(PreSharedKey(psk)), Proposal(PreSharedKey(psk)))),
        "unknown_reference": Commit((ProposalOrRef(reference=bytes(32)),)),
        "missing_path": Commit(inline(Proposal(Remove(2)))),
        "gce_unsupported": Commit(inline(Proposal(GroupContextExtensions((required,))))),
    }
    exc = rejects(network.members[1], forge(committer, bodies[case]))
    assert isinstance(exc, (InvalidProposal, InvalidCommit, InvalidKeyPackage)), exc
    assert rule in str(exc)


def test_commit_refuses_invalid_lists_locally(network) -> None:  # type: ignore[no-untyped-def]
    committer = network.members[0]
    with pytest.raises(InvalidProposal):
        committer.commit(remove=[0])
    with pytest.raises(InvalidProposal):
        committer.commit(remove=[2, 2])
    with pytest.raises(UnknownPsk):
        committer.commit(psks=[PreSharedKeyId.external(b"nobody-has-it", bytes(32))])
    assert not committer.has_pending_commit


def test_key_package_checks() -> None:
    network = build(2)
    committer = network.members[0]
    expired = KeyPackageBundle.create(
        1,
        identity(30),
        signing.SigningKey.generate(),
        now=int(time.time()) - 10 * 86400,
        lifetime_s=3600,
    )
    with pytest.raises(ValidationError, match="lifetime"):
        committer.commit(add=[expired.key_package])
    other_suite = key_package(31, suite=3)
    with pytest.raises(InvalidKeyPackage, match="suite"):
        committer.propose_add(other_suite.key_package)
    good = key_package(32).key_package
    forged = replace(good, signature=bytes(64))
    with pytest.raises(InvalidKeyPackage, match="signature"):
        committer.propose_add(forged)
    same_key = replace(good, init_key=good.leaf_node.encryption_key)
    with pytest.raises(InvalidKeyPackage, match="init_key"):
        committer.propose_add(same_key)


def test_welcome_for_someone_else_is_refused() -> None:
    network = build(1)
    invited = key_package(10)
    bundle = network.members[0].commit(add=[invited.key_package])
    assert bundle.welcome is not None
    with pytest.raises(InvalidWelcome):
        Group.join(bundle.welcome, key_package(11))
    with pytest.raises(MLSError):
        Group.join(bundle.commit, invited)


def test_psk_commit_and_welcome() -> None:
    network = build(3)
    for group in network.members.values():
        group.add_external_psk(b"shared", b"\x07" * 32)
    joiner = key_package(60)
    psk = PreSharedKeyId.external(b"shared", b"\x01" * 32)
    bundle = network.members[0].commit(add=[joiner.key_package], psks=[psk])
    network.deliver(0, bundle)
    assert bundle.welcome is not None
    with pytest.raises(UnknownPsk):
        Group.join(bundle.welcome, joiner)
    network.members[60] = Group.join(
        bundle.welcome, joiner, external_psks={b"shared": b"\x07" * 32}
    )
    assert network.agree()


def test_group_context_extensions_and_reinit() -> None:
    network = build(3)
    ext = Extension(0x0F0F, b"app data")  # an extension every member must support
    with pytest.raises(InvalidProposal):
        network.members[0].commit(group_context_extensions=[ext])
    app_id = typed_extension(
        ExtensionType.REQUIRED_CAPABILITIES, RequiredCapabilities(credential_types=(1,))
    )
    bundle = network.members[0].commit(group_context_extensions=[app_id])
    network.deliver(0, bundle)
    assert network.agree()
    assert network.members[2].group_context.extensions == (app_id,)
    bundle = network.members[1].commit(reinit=ReInit(b"next", 1, 3), path=False)
    network.deliver(1, bundle)
    assert not any(g.is_active for g in network.members.values())


def test_device_credential_check_refuses_other_identities() -> None:
    from sottovoce.mls.group.credentials import check_device_credential

    config = GroupConfig(credential_check=check_device_credential)
    network = build(2, config=config)
    stranger = KeyPackageBundle.create(1, b"not a device", signing.SigningKey.generate())
    with pytest.raises(ValidationError, match="credential identity"):
        network.members[0].commit(add=[stranger.key_package])
    assert network.members[0].commit(add=[key_package(8).key_package]).welcome is not None


def test_external_join_checks() -> None:
    network = build(3)
    info = network.members[0].group_info()
    damaged = info[:-1] + bytes([info[-1] ^ 1])  # the GroupInfo signature
    with pytest.raises(CryptoFailure):
        Group.join_external(damaged, identity(20), signing.SigningKey.generate())
    # A joiner may remove only its own older leaf (§12.4.3.2).
    with pytest.raises(InvalidProposal, match="another client"):
        Group.join_external(info, identity(20), signing.SigningKey.generate(), resync_leaf=1)
    joiner, commit = Group.join_external(info, identity(20), signing.SigningKey.generate())
    # The commit is for the epoch of the GroupInfo: after another commit it is stale.
    bundle = network.members[1].commit()
    network.deliver(1, bundle)
    exc = rejects(network.members[2], commit)
    assert "epoch" in str(exc)
    del joiner


def test_reinit_to_another_suite_and_the_successor_group() -> None:
    network = build(3)
    reinit = ReInit(b"successor", 1, 3)
    bundle = network.members[0].commit(reinit=reinit, path=False)
    network.deliver(0, bundle)
    old = dict(network.members)
    assert all(g.reinit == reinit and not g.is_active for g in old.values())
    stored = Group.from_bytes(old[1].to_bytes())  # the ReInit survives a restart
    assert stored.reinit == reinit
    members = {n: key_package(n, suite=3) for n in (1, 2)}
    successor, first = old[0].reinit_successor([kp.key_package for kp in members.values()])
    successor.merge_pending_commit()
    assert first.welcome is not None and successor.suite.id == 3
    with pytest.raises(UnknownPsk):  # the reinit PSK binds the old group
        Group.join(first.welcome, members[1])
    joined = {n: Group.join(first.welcome, kp, reinit_from=old[n]) for n, kp in members.items()}
    assert joined[2].group_id == b"successor"
    assert {g.epoch_authenticator for g in joined.values()} == {successor.epoch_authenticator}
    wrong = build(2)
    wrong.deliver(0, wrong.members[0].commit(reinit=ReInit(b"other", 1, 3), path=False))
    with pytest.raises(UnknownPsk):  # another group's reinit PSK does not open it
        Group.join(first.welcome, members[2], reinit_from=wrong.members[1])
    with pytest.raises(InvalidWelcome):  # a group that was never reinitialized
        Group.join(first.welcome, members[2], reinit_from=build(2).members[1])


def test_reinit_psk_is_refused_in_an_ordinary_commit() -> None:
    from sottovoce.mls.wire.psk import ResumptionPskUsage

    network = build(2)
    network.deliver(0, network.members[0].commit())
    psk = PreSharedKeyId.resumption(ResumptionPskUsage.REINIT, b"x", 0, bytes(32))
    with pytest.raises(InvalidProposal, match="REINIT"):
        network.members[0].commit(psks=[psk])


def test_an_invalid_stored_proposal_can_be_discarded() -> None:
    network = build(3)
    expired = KeyPackageBundle.create(
        1,
        identity(40),
        signing.SigningKey.generate(),
        now=int(time.time()) - 10 * 86400,
        lifetime_s=3600,
    )
    proposal = network.members[1].propose_add(expired.key_package)  # §12.1.1 alone: fine
    network.members[0].process(proposal)
    with pytest.raises(ValidationError, match="lifetime"):
        network.members[0].commit()
    network.members[0].discard_proposals()
    bundle = network.members[0].commit()
    network.deliver(0, bundle)
    assert network.agree()


def test_a_member_cannot_become_another_client_by_updating() -> None:
    from sottovoce.mls.wire.credentials import Credential
    from sottovoce.mls.wire.proposals import Update
    from sottovoce.mls.wire.registry import LeafNodeSource

    network = build(3, config=PUBLIC)
    liar = network.members[1]
    epoch = liar._epoch
    keys = epoch.keys()
    old = epoch.tree.leaf(epoch.own_leaf)
    assert old is not None
    fake = replace(
        old,
        credential=Credential.basic(identity(0)),  # claims to be member 0's device
        encryption_key=liar.suite.generate_hpke_key_pair().public,
        leaf_node_source=LeafNodeSource.UPDATE,
        lifetime=None,
    ).signed(liar.suite, liar._signer, liar.group_id, epoch.own_leaf)
    content = protection.framed(keys, Sender.member(epoch.own_leaf), Proposal(Update(fake)), b"")
    message = bytes(
        MLSMessage(
            protection.to_public(
                keys, protection.sign(keys, liar._signer, WireFormat.PUBLIC_MESSAGE, content)
            )
        )
    )
    exc = rejects(network.members[2], message)
    assert "another client" in str(exc)


def test_the_clock_decides_key_package_lifetimes() -> None:
    later = int(time.time()) + 200 * 86400  # past the default 90-day lifetime
    config = GroupConfig(clock=lambda: later)
    group = Group.create(1, b"clock", identity(0), signing.SigningKey.generate(), config=config)
    with pytest.raises(ValidationError, match="lifetime"):
        group.commit(add=[key_package(9).key_package])
    fresh = KeyPackageBundle.create(1, identity(9), signing.SigningKey.generate(), now=later)
    assert group.commit(add=[fresh.key_package]).welcome is not None
