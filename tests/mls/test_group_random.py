"""Random group histories: adds, removes, self-updates, Update and Remove proposals
committed by others, external joins, restarts from stored state and messages, all
members agreeing on every epoch (RFC 9420 §8.7 epoch_authenticator)."""

from __future__ import annotations

import random

import pytest

from sottovoce.crypto import signing
from sottovoce.mls.group import Group, GroupConfig

from .group_support import Network, build, identity, key_package


def _step(network: Network, rng: random.Random, next_name: list[int]) -> None:
    names = sorted(network.members)
    committer = rng.choice(names)
    group = network.members[committer]
    action = rng.choice(["add", "remove", "update", "proposals", "external", "restart", "message"])
    if action == "add" or len(names) < 3:
        fresh = [key_package(next_name[0] + i) for i in range(rng.randint(1, 3))]
        bundle = group.commit(add=[kp.key_package for kp in fresh], path=rng.random() < 0.5)
        network.deliver(committer, bundle)
        assert bundle.welcome is not None
        for offset, kp in enumerate(fresh):
            network.members[next_name[0] + offset] = Group.join(
                bundle.welcome, kp, config=GroupConfig()
            )
        next_name[0] += len(fresh)
    elif action == "remove":
        victim = rng.choice([n for n in names if n != committer])
        leaf = network.members[victim].own_leaf_index
        bundle = group.commit(remove=[leaf])
        network.deliver(committer, bundle, skip=(victim,))
        network.members[victim].process(bundle.commit)
        assert not network.members.pop(victim).is_active
    elif action == "update":
        network.deliver(committer, group.commit())
    elif action == "proposals":
        proposer = rng.choice([n for n in names if n != committer])
        messages = [network.members[proposer].propose_update()]
        others = [n for n in names if n not in (committer, proposer)]
        removed = rng.choice(others) if others and rng.random() < 0.5 else None
        if removed is not None:
            leaf = network.members[removed].own_leaf_index
            messages.append(network.members[proposer].propose_remove(leaf))
        for message in messages:
            for name, member in network.members.items():
                if name != proposer:
                    member.process(message)
        bundle = group.commit()
        network.deliver(committer, bundle, skip=() if removed is None else (removed,))
        if removed is not None:
            assert network.members.pop(removed).process(bundle.commit).removed_self  # type: ignore[union-attr]
    elif action == "external":
        joiner, commit = Group.join_external(
            group.group_info(), identity(next_name[0]), signing.SigningKey.generate()
        )
        for member in network.members.values():
            member.process(commit)
        network.members[next_name[0]] = joiner
        next_name[0] += 1
    elif action == "restart":
        network.members[committer] = Group.from_bytes(group.to_bytes(), config=GroupConfig())
    else:
        text = f"message from {committer}".encode()
        assert set(network.broadcast(committer, text).values()) <= {text}
    assert network.agree(), action


@pytest.mark.parametrize("seed", range(6))
def test_random_history(seed: int) -> None:
    rng = random.Random(seed)
    network = build(rng.randint(2, 6))
    next_name = [100]
    for _ in range(25):
        _step(network, rng, next_name)
    epochs = {member.epoch for member in network.members.values()}
    assert len(epochs) == 1
