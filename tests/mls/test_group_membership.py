"""Groups of 2, 5 and 50 in memory: adding, removing, messages, persistence (RFC 9420 §12)."""

from __future__ import annotations

import pytest

from sottovoce.mls.errors import DecodeError, GroupInactive, MLSError, WrongEpoch
from sottovoce.mls.group import Group

from .group_support import SUITES, build, key_package


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("size", [2, 5, 50])
def test_group_of_n_agrees_and_every_member_reads_every_other(size: int, suite: int) -> None:
    network = build(size, suite)
    assert network.agree()
    assert {g.epoch for g in network.members.values()} == {1}
    for sender in (0, size - 1):
        received = network.broadcast(sender, f"from {sender}".encode())
        assert set(received) == set(network.members) - {sender}
        assert set(received.values()) == {f"from {sender}".encode()}
    members = network.members[size - 1].members()
    assert [m.leaf_index for m in members] == list(range(size))


@pytest.mark.parametrize("size", [2, 5, 50])
def test_removed_member_cannot_read_later_messages(size: int) -> None:
    network = build(size)
    victim = size - 1
    victim_group = network.members[victim]
    committer = 0
    bundle = network.members[committer].commit(remove=[victim])
    network.members[committer].merge_pending_commit()
    for name, group in network.members.items():
        if name != committer:
            outcome = group.process(bundle.commit)
    assert outcome.removed_self  # type: ignore[union-attr]  # the victim processed last
    assert not victim_group.is_active
    del network.members[victim]
    assert network.agree()
    later = network.members[committer].protect(b"after the removal")
    with pytest.raises(GroupInactive):
        victim_group.process(later)


def test_removed_member_with_a_stale_copy_cannot_read() -> None:
    """A removed member that never processed its removal is stuck in the old epoch."""
    network = build(5)
    stale = Group.from_bytes(network.members[3].to_bytes())
    bundle = network.members[0].commit(remove=[3])
    network.deliver(0, bundle, skip=(3,))
    del network.members[3]
    with pytest.raises(WrongEpoch):
        stale.process(network.members[1].protect(b"secret"))


def test_add_to_a_running_group_and_the_joiner_reads_only_new_messages() -> None:
    network = build(5)
    before = network.members[2].protect(b"before the join")
    joiner_kp = key_package(99)
    bundle = network.members[2].commit(add=[joiner_kp.public_bytes()])
    network.deliver(2, bundle)
    assert bundle.welcome is not None
    joiner = Group.join(bundle.welcome, joiner_kp)
    network.members[99] = joiner
    assert network.agree()
    assert [m.identity for m in joiner.members()][
        -1
    ] == joiner_kp.key_package.leaf_node.credential.identity
    with pytest.raises(MLSError):
        joiner.process(before)
    assert network.broadcast(99, b"hello all")[0] == b"hello all"


def test_removed_leaf_is_reused_by_the_next_add() -> None:
    network = build(5)
    bundle = network.members[0].commit(remove=[2])
    network.deliver(0, bundle, skip=(2,))
    del network.members[2]
    newcomer = key_package(77)
    bundle = network.members[1].commit(add=[newcomer.key_package])
    network.deliver(1, bundle)
    assert bundle.welcome is not None
    network.members[77] = Group.join(bundle.welcome, newcomer)
    assert network.members[77].own_leaf_index == 2
    assert network.agree()


def test_state_round_trips_through_bytes_mid_conversation() -> None:
    network = build(5)
    network.broadcast(1, b"one")
    for name in list(network.members):
        network.members[name] = Group.from_bytes(network.members[name].to_bytes())
    assert network.agree()
    assert network.broadcast(1, b"two")[3] == b"two"
    bundle = network.members[4].commit()
    restored = Group.from_bytes(network.members[4].to_bytes())
    network.members[4] = restored  # the pending commit survives a restart
    network.deliver(4, bundle)
    assert network.agree()


def test_damaged_state_is_a_decode_error() -> None:
    state = build(2).members[1].to_bytes()
    for damaged in (b"", state[:-1], state[:40], b"\x09" + state[1:], state + b"\x00"):
        with pytest.raises(DecodeError):
            Group.from_bytes(damaged)


def test_exporter_and_epoch_authenticator_agree_and_change_per_epoch() -> None:
    network = build(3)
    a, b = network.members[0], network.members[2]
    secret = a.export_secret(b"sottovoce call", b"ctx", 32)
    assert secret == b.export_secret(b"sottovoce call", b"ctx", 32)
    bundle = b.commit()
    network.deliver(2, bundle)
    assert a.export_secret(b"sottovoce call", b"ctx", 32) != secret
    assert network.agree()


def test_external_join_and_resync() -> None:
    network = build(4)
    from sottovoce.crypto import signing

    from .group_support import identity

    newcomer, commit = Group.join_external(
        network.members[1].group_info(), identity(50), signing.SigningKey.generate()
    )
    for group in network.members.values():
        group.process(commit)
    network.members[50] = newcomer
    assert network.agree()
    # Member 3 lost its state: it rejoins externally, removing its own old leaf.
    old_leaf = network.members[3].own_leaf_index
    rejoined, commit = Group.join_external(
        network.members[0].group_info(),
        identity(3),
        signing.SigningKey.generate(),
        resync_leaf=old_leaf,
    )
    lost = network.members.pop(3)
    for group in network.members.values():
        group.process(commit)
    network.members[3] = rejoined
    assert network.agree()
    assert len(rejoined.members()) == 5
    assert network.broadcast(3, b"back")[50] == b"back"
    del lost


def test_offline_member_catches_up_in_queue_order() -> None:
    network = build(5)
    offline = network.members.pop(4)
    queue: list[bytes] = []  # what the Delivery Service keeps for the offline device
    for round_number in range(4):
        committer = round_number % 4
        text = f"round {round_number}".encode()
        message = network.members[committer].protect(text)
        queue.append(message)
        for name, group in network.members.items():
            if name != committer:
                group.process(message)
        bundle = network.members[committer].commit()
        queue.append(bundle.commit)
        network.deliver(committer, bundle)
    read = [offline.process(item) for item in queue]
    texts = [r.data for r in read if hasattr(r, "data")]
    assert texts == [f"round {n}".encode() for n in range(4)]
    network.members[4] = offline
    assert network.agree()


def test_members_on_two_apps_share_one_group() -> None:
    network = build(4)
    apps = {m.identity.decode().split("@")[1].split("/")[0] for m in network.members[0].members()}
    assert apps == {"chat", "photos"}
