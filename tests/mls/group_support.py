"""Helpers for the group tests: in-memory members and a Delivery Service that orders
commits one per epoch, as the server does."""

from __future__ import annotations

from dataclasses import dataclass, field

from sottovoce.crypto import signing
from sottovoce.mls.errors import MLSError
from sottovoce.mls.group import CommitBundle, Group, GroupConfig, KeyPackageBundle
from sottovoce.mls.group.credentials import DeviceIdentity

SUITES = (0x0001, 0x0003)


def identity(n: int) -> bytes:
    """Member ``n``'s device; members alternate between two apps (groups mix apps)."""
    app = "chat" if n % 2 == 0 else "photos"
    return bytes(DeviceIdentity(f"user{n}@{app}", 1))


def key_package(n: int, suite: int = 0x0001, **kwargs: object) -> KeyPackageBundle:
    return KeyPackageBundle.create(suite, identity(n), signing.SigningKey.generate(), **kwargs)  # type: ignore[arg-type]


@dataclass
class Network:
    """Members by name; :meth:`deliver` hands one commit to everyone else."""

    members: dict[int, Group] = field(default_factory=dict)

    def deliver(self, sender: int, bundle: CommitBundle, *, skip: tuple[int, ...] = ()) -> None:
        self.members[sender].merge_pending_commit()
        for name, group in self.members.items():
            if name != sender and name not in skip and group.is_active:
                group.process(bundle.commit)

    def agree(self) -> bool:
        values = {g.epoch_authenticator for g in self.members.values() if g.is_active}
        return len(values) == 1

    def broadcast(self, sender: int, text: bytes) -> dict[int, bytes]:
        message = self.members[sender].protect(text)
        out = {}
        for name, group in self.members.items():
            if name != sender and group.is_active:
                received = group.process(message)
                out[name] = received.data  # type: ignore[union-attr]
        return out


def build(size: int, suite: int = 0x0001, config: GroupConfig | None = None) -> Network:
    """A group of ``size``: member 0 creates it and adds the others in one commit."""
    creator = Group.create(
        suite, b"group-" + bytes([size]), identity(0), signing.SigningKey.generate(), config=config
    )
    network = Network({0: creator})
    if size == 1:
        return network
    bundles = {n: key_package(n, suite) for n in range(1, size)}
    commit = creator.commit(add=[b.key_package for b in bundles.values()])
    creator.merge_pending_commit()
    assert commit.welcome is not None
    for n, bundle in bundles.items():
        network.members[n] = Group.join(commit.welcome, bundle, config=config)
    return network


def rejects(group: Group, message: bytes) -> MLSError:
    before = group.to_bytes()
    try:
        group.process(message)
    except MLSError as exc:
        assert group.to_bytes() == before, "a rejected message changed the group state"
        return exc
    raise AssertionError("message was accepted")
