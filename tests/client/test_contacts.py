"""The pinning policy on its own: first use pins, replays and key changes are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sottovoce.client.contacts import CONTACT, ContactBook, verify_view
from sottovoce.client.errors import ClientError, IdentityChanged, ProfileError, SecurityError
from sottovoce.client.session_record import SESSION
from sottovoce.client.store import Store
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList

BOB = "bob@photos"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.create(tmp_path / "profile")


def signed_view(
    key: SigningKey, version: int, *identities: IdentityKeyPair
) -> tuple[bytes, bytes, DeviceList]:
    entries = tuple(DeviceEntry(i + 1, ident.public, 0) for i, ident in enumerate(identities))
    signed = DeviceList(BOB, version, entries).sign(key)
    return key.public, signed, verify_view(BOB, key.public, signed)


def test_first_use_pins_and_newer_lists_under_the_same_key_replace_it(store: Store) -> None:
    book, key = ContactBook(store), SigningKey.generate()
    phone, laptop = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    assert book.device_list(BOB) is None
    book.observe(BOB, *signed_view(key, 1, phone))
    assert book.pinned_key(BOB) == key.public
    assert book.device_list(BOB) == signed_view(key, 1, phone)[2]
    book.observe(BOB, *signed_view(key, 2, phone, laptop))
    pinned = book.device_list(BOB)
    assert pinned is not None and (pinned.version, len(pinned.devices)) == (2, 2)
    book.observe(BOB, *signed_view(key, 2, phone, laptop))  # the same view again is fine


def test_an_older_list_is_refused_as_a_replay(store: Store) -> None:
    book, key, phone = ContactBook(store), SigningKey.generate(), IdentityKeyPair.generate()
    book.observe(BOB, *signed_view(key, 3, phone))
    with pytest.raises(SecurityError, match="replayed an older device list"):
        book.observe(BOB, *signed_view(key, 2, phone))
    pinned = book.device_list(BOB)
    assert pinned is not None and pinned.version == 3


def test_a_new_key_waits_for_trust_and_then_replaces_the_pin(store: Store) -> None:
    book, old_key, new_key = ContactBook(store), SigningKey.generate(), SigningKey.generate()
    phone, reinstalled, laptop = (IdentityKeyPair.generate() for _ in range(3))
    book.observe(BOB, *signed_view(old_key, 1, phone, laptop))
    with store.transaction():
        store.put(SESSION, f"{BOB}/1", b"session with the old phone key")
        store.put(SESSION, f"{BOB}/2", b"session with the laptop")
    for _ in range(2):
        with pytest.raises(IdentityChanged, match=BOB):
            book.observe(BOB, *signed_view(new_key, 1, reinstalled, laptop))
    assert book.pinned_key(BOB) == old_key.public  # nothing changed silently
    assert book.device_list(BOB) is None  # the server must be asked again
    assert book.pending_changes() == [BOB]

    book.trust(BOB)
    assert book.pinned_key(BOB) == new_key.public
    assert book.pending_changes() == []
    assert store.get(SESSION, f"{BOB}/1") is None  # that identity is gone
    assert store.get(SESSION, f"{BOB}/2") == b"session with the laptop"
    with pytest.raises(ClientError, match="nothing to trust"):
        book.trust(BOB)


def test_the_old_key_coming_back_clears_a_pending_change(store: Store) -> None:
    book, key, other = ContactBook(store), SigningKey.generate(), SigningKey.generate()
    phone = IdentityKeyPair.generate()
    book.observe(BOB, *signed_view(key, 1, phone))
    with pytest.raises(IdentityChanged):
        book.observe(BOB, *signed_view(other, 1, phone))
    with pytest.raises(IdentityChanged):  # still pending: the pinned key must be served
        book.observe(BOB, *signed_view(other, 2, phone))
    book.observe(BOB, *signed_view(key, 1, phone))
    assert book.pending_changes() == []
    assert book.device_list(BOB) is not None


def test_served_views_must_verify_and_name_the_address(store: Store) -> None:
    key, phone = SigningKey.generate(), IdentityKeyPair.generate()
    signed = DeviceList(BOB, 1, (DeviceEntry(1, phone.public, 0),)).sign(key)
    with pytest.raises(SecurityError, match="fails"):
        verify_view(BOB, SigningKey.generate().public, signed)
    with pytest.raises(SecurityError, match="fails"):
        verify_view(BOB, key.public, signed[:-1] + bytes([signed[-1] ^ 1]))
    with pytest.raises(SecurityError, match="another account's device list"):
        verify_view("carol@chat", key.public, signed)


def test_a_damaged_contact_record_is_a_profile_error(store: Store) -> None:
    with store.transaction():
        store.put_json(CONTACT, BOB, {"address": BOB, "key": "???", "device_list": ""})
    with pytest.raises(ProfileError, match="contact record"):
        ContactBook(store).device_list(BOB)
