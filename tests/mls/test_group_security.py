"""Post-compromise security and concurrent commits (RFC 9420 §12.4, §16.6)."""

from __future__ import annotations

import pytest

from sottovoce.mls.errors import MLSError, WrongEpoch
from sottovoce.mls.group import CommitApplied, Group

from .group_support import build


@pytest.mark.parametrize("size", [2, 5, 50])
def test_compromised_member_recovers_after_its_own_update(size: int) -> None:
    network = build(size)
    victim = 1
    stolen = Group.from_bytes(network.members[victim].to_bytes())  # the attacker's copy
    # While the attacker's copy is current, it reads the group's messages.
    message = network.members[0].protect(b"before healing")
    assert stolen.process(message).data == b"before healing"  # type: ignore[union-attr]
    network.members[victim].process(message)

    bundle = network.members[victim].commit()  # self-update with path
    network.deliver(victim, bundle)
    assert network.agree()
    with pytest.raises(MLSError):
        stolen.process(bundle.commit)
    later = network.members[0].protect(b"after healing")
    with pytest.raises(WrongEpoch):
        stolen.process(later)
    assert stolen.epoch_authenticator != network.members[0].epoch_authenticator


def test_compromised_member_recovers_when_its_update_proposal_is_committed() -> None:
    network = build(5)
    victim = 3
    stolen = Group.from_bytes(network.members[victim].to_bytes())
    proposal = network.members[victim].propose_update()
    for name, group in network.members.items():
        if name != victim:
            group.process(proposal)
    stolen.process(proposal)  # the attacker sees the proposal on the wire
    bundle = network.members[0].commit()
    network.deliver(0, bundle)
    assert network.agree()
    with pytest.raises(MLSError):
        stolen.process(bundle.commit)  # it does not know the victim's new leaf key


def test_update_by_another_member_does_not_heal_the_victim() -> None:
    """Documenting why self-updates matter: another member's path is encrypted to the
    victim's current keys, which the attacker holds."""
    network = build(5)
    stolen = Group.from_bytes(network.members[2].to_bytes())
    bundle = network.members[0].commit()
    network.deliver(0, bundle)
    stolen.process(bundle.commit)
    assert stolen.epoch_authenticator == network.members[0].epoch_authenticator


@pytest.mark.parametrize("size", [3, 5, 50])
def test_concurrent_commits_only_one_wins_and_the_loser_rebuilds(size: int) -> None:
    network = build(size)
    a, b = network.members[1], network.members[size - 1]
    first = a.commit()
    second = b.commit(remove=[0])
    # The Delivery Service orders them: a's commit wins the epoch.
    network.deliver(1, first, skip=(size - 1,))
    with pytest.raises(WrongEpoch):
        a.process(second.commit)
    with pytest.raises(MLSError):
        network.members[2 if size > 3 else 0].process(second.commit)
    # b is told 409: it drops its commit, processes the winner, and commits again.
    b.discard_pending_commit()
    outcome = b.process(first.commit)
    assert isinstance(outcome, CommitApplied) and outcome.committer == 1
    retry = b.commit(remove=[0])
    network.deliver(size - 1, retry)
    del network.members[0]
    assert network.agree()
    assert {g.epoch for g in network.members.values()} == {3}


def test_pending_commit_blocks_application_messages() -> None:
    network = build(2)
    network.members[0].commit()
    with pytest.raises(MLSError):
        network.members[0].protect(b"in the old epoch")
    network.members[0].discard_pending_commit()
    assert network.broadcast(0, b"ok")[1] == b"ok"


def test_late_application_message_from_the_previous_epoch_is_read() -> None:
    network = build(3)
    late = network.members[2].protect(b"sent before the commit")
    bundle = network.members[0].commit()
    network.deliver(0, bundle, skip=(2,))
    network.members[2].process(bundle.commit)
    assert network.members[1].process(late).data == b"sent before the commit"  # type: ignore[union-attr]


def test_replayed_application_message_is_rejected() -> None:
    network = build(2)
    message = network.members[0].protect(b"once")
    network.members[1].process(message)
    with pytest.raises(MLSError):
        network.members[1].process(message)
