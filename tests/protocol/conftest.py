"""Devices with published prekeys, and started conversations, for the protocol tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import (
    InMemoryPreKeyStore,
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)
from sottovoce.protocol.session import Session


@dataclass
class Device:
    """A device that published one signed prekey, ML-KEM prekeys and one-time prekeys."""

    identity: IdentityKeyPair
    store: InMemoryPreKeyStore

    def bundle(
        self, *, one_time_id: int | None = 100, kem_id: int = 1, last_resort: bool = False
    ) -> PreKeyBundle:
        signed = self.store.signed_prekey(1)
        kem_key = self.store.kem_prekey(900 if last_resort else kem_id)
        one_time = None if one_time_id is None else self.store.one_time_prekey(one_time_id)
        return PreKeyBundle(
            identity=self.identity.public,
            signed_prekey_id=signed.key_id,
            signed_prekey=signed.public,
            signed_prekey_signature=signed.signature,
            kem_prekey_id=kem_key.key_id,
            kem_prekey=kem_key.public,
            kem_prekey_signature=kem_key.signature,
            kem_prekey_last_resort=kem_key.last_resort,
            one_time_prekey_id=None if one_time is None else one_time.key_id,
            one_time_prekey=None if one_time is None else one_time.public,
        )


def new_device() -> Device:
    identity = IdentityKeyPair.generate()
    store = InMemoryPreKeyStore()
    store.add_signed(generate_signed_prekey(identity, 1))
    store.add_one_time(generate_one_time_prekeys(100, 4))
    store.add_kem(generate_kem_prekeys(identity, 1, 2))
    store.add_kem(generate_kem_prekeys(identity, 900, 1, last_resort=True))
    return Device(identity, store)


@pytest.fixture(scope="module")
def alice() -> Device:
    return new_device()


@pytest.fixture(scope="module")
def bob() -> Device:
    return new_device()


@pytest.fixture(scope="module")
def make_device() -> Callable[[], Device]:
    return new_device


@pytest.fixture
def pair(alice: Device, bob: Device) -> tuple[Session, Session]:
    """A fresh conversation in which Bob has replied once, so neither side sends PreKey."""
    a = Session.initiate(alice.identity, bob.bundle())
    b = Session.respond(bob.identity, bob.store, a.encrypt(b"hello")).session
    assert a.decrypt(b.encrypt(b"hi")) == b"hi"
    return a, b
