"""Which session encrypts and decrypts, including when two first messages cross."""

from __future__ import annotations

from pathlib import Path

import pytest

from sottovoce.client.errors import InvalidMessage, ProfileError
from sottovoce.client.session_cipher import claimed_identity, decrypt, sending_session
from sottovoce.client.session_record import ARCHIVED, MAX_ARCHIVED_SESSIONS, SessionRecord
from sottovoce.client.store import Store
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import (
    InMemoryPreKeyStore,
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)
from sottovoce.protocol.public.device_list import DeviceEntry
from sottovoce.protocol.session import Session
from sottovoce.protocol.wire import MessageType, message_type


class Device:
    """One device: its identity, its private prekeys, and its record of the peer."""

    def __init__(self, name: str) -> None:
        self.identity = IdentityKeyPair.generate()
        self.prekeys = InMemoryPreKeyStore()
        self.prekeys.add_signed(generate_signed_prekey(self.identity, 1))
        self.prekeys.add_one_time(generate_one_time_prekeys(1, 4))
        self.prekeys.add_kem(generate_kem_prekeys(self.identity, 1, 4))
        self.record = SessionRecord(name, None, [])
        self.claimed = 0

    def bundle(self) -> PreKeyBundle:
        self.claimed += 1
        signed, one_time = self.prekeys.signed_prekey(1), self.prekeys.one_time_prekey(self.claimed)
        kem = self.prekeys.kem_prekey(self.claimed)
        return PreKeyBundle(
            self.identity.public, 1, signed.public, signed.signature, kem.key_id, kem.public,
            kem.signature, False, one_time.key_id, one_time.public,
        )  # fmt: skip

    def send(self, peer: Device, text: bytes) -> bytes:
        entry = DeviceEntry(1, peer.identity.public, 0)
        session = sending_session(self.record, entry) or Session.initiate(
            self.identity, peer.bundle()
        )
        self.record.use(session)
        return session.encrypt(text)

    def receive(self, message: bytes) -> bytes:
        opened = decrypt(self.record, self.identity, self.prekeys, message_type(message), message)
        return opened.plaintext


def test_first_messages_that_cross_still_converge_on_one_session() -> None:
    alice, bob = Device("bob@chat/1"), Device("alice@chat/1")
    a0, b0 = alice.send(bob, b"a0"), bob.send(alice, b"b0")  # both start at once
    assert bob.receive(a0) == b"a0" and alice.receive(b0) == b"b0"
    # Each now holds two sessions and sends on the one it answered last.
    transcript = []
    for i in range(1, 4):
        transcript.append(bob.receive(alice.send(bob, b"a%d" % i)))
        transcript.append(alice.receive(bob.send(alice, b"b%d" % i)))
    assert transcript == [b"a1", b"b1", b"a2", b"b2", b"a3", b"b3"]
    assert message_type(alice.send(bob, b"settled")) is MessageType.MESSAGE


def test_a_repeated_prekey_header_reuses_its_session_and_prekeys() -> None:
    alice, bob = Device("bob@chat/1"), Device("alice@chat/1")
    first, second = alice.send(bob, b"one"), alice.send(bob, b"two")  # both PreKey messages
    opened = decrypt(bob.record, bob.identity, bob.prekeys, MessageType.PREKEY, first)
    assert opened.inbound is not None and opened.inbound.one_time_prekey_id == 1
    again = decrypt(bob.record, bob.identity, bob.prekeys, MessageType.PREKEY, second)
    assert (again.plaintext, again.inbound, again.session) == (b"two", None, opened.session)
    assert claimed_identity(bob.record, MessageType.PREKEY, second) == alice.identity.public
    assert claimed_identity(bob.record, MessageType.MESSAGE, b"") == alice.identity.public
    assert "two" not in repr(again)


def test_a_message_without_a_session_is_an_invalid_message() -> None:
    alice, bob = Device("bob@chat/1"), Device("alice@chat/1")
    bob.receive(alice.send(bob, b"hello"))
    reply = bob.send(alice, b"reply")  # bob answered: a plain ratchet message
    assert message_type(reply) is MessageType.MESSAGE
    stranger = Device("bob@chat/1")  # never talked to bob
    with pytest.raises(InvalidMessage, match="no session with bob@chat/1"):
        stranger.receive(reply)
    with pytest.raises(ProtocolError):
        alice.receive(reply[:-1] + bytes([reply[-1] ^ 1]))
    assert alice.receive(reply) == b"reply"  # the failed attempt changed nothing


def test_the_archive_keeps_the_newest_sessions_up_to_its_bound() -> None:
    alice, bob = Device("bob@chat/1"), Device("alice@chat/1")
    bundle = bob.bundle()
    sessions = [Session.initiate(alice.identity, bundle) for _ in range(MAX_ARCHIVED_SESSIONS + 3)]
    record = SessionRecord("bob@chat/1", None, [])
    for session in sessions:
        record.use(session)
    assert record.current is sessions[-1]
    assert record.archived == sessions[-2::-1][:MAX_ARCHIVED_SESSIONS]
    record.use(sessions[-3])  # an archived one that decrypted becomes current again
    assert record.current is sessions[-3] and record.archived[0] is sessions[-1]
    assert len(record.archived) == MAX_ARCHIVED_SESSIONS


def test_records_round_trip_through_the_store_and_damage_is_detected(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "p")
    alice, bob = Device("bob@chat/1"), Device("alice@chat/1")
    alice.send(bob, b"one")
    alice.record.use(Session.initiate(alice.identity, bob.bundle()))
    with store.transaction():
        alice.record.save(store)
    loaded = SessionRecord.load(store, "bob@chat", 1)
    assert len(loaded.sessions()) == 2
    assert loaded.sessions()[0].to_bytes() == alice.record.sessions()[0].to_bytes()
    with store.transaction():
        store.put(ARCHIVED, "bob@chat/1", b"\x00\x01\x00\x00\x00\x09short")
    with pytest.raises(ProfileError, match="archived session"):
        SessionRecord.load(store, "bob@chat", 1)
    with store.transaction():
        SessionRecord.delete(store, "bob@chat", 1)
    assert SessionRecord.load(store, "bob@chat", 1).sessions() == []
