"""Session behaviour: setup, ordering, replay, tampering, bounds and persistence."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from sottovoce.protocol import ratchet, wire
from sottovoce.protocol.errors import (
    DecodeError,
    DecryptionError,
    DuplicateMessage,
    PlaintextTooLarge,
    ProtocolError,
    SessionStateError,
    TooManySkippedMessages,
    UnknownPreKey,
    VerificationError,
)
from sottovoce.protocol.limits import (
    MAX_COUNTER,
    MAX_PLAINTEXT_LEN,
    MAX_PREVIOUS_RECEIVING_CHAINS,
    MAX_SESSION_STATE_LEN,
    MAX_SKIP,
    MAX_STORED_SKIPPED_KEYS,
)
from sottovoce.protocol.session import Session

if TYPE_CHECKING:
    from conftest import Device


def flip(message: bytes, bit: int) -> bytes:
    data = bytearray(message)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


def test_initiator_sends_prekey_messages_until_a_reply(alice: Device, bob: Device) -> None:
    a = Session.initiate(alice.identity, bob.bundle())
    first, second = a.encrypt(b"one"), a.encrypt(b"two")
    assert a.awaiting_reply
    assert wire.message_type(first) is wire.MessageType.PREKEY
    assert wire.prekey_message_base_key(first) == wire.prekey_message_base_key(second)
    inbound = Session.respond(bob.identity, bob.store, first)
    b = inbound.session
    assert inbound.plaintext == b"one"
    assert (inbound.one_time_prekey_id, inbound.kem_prekey_id) == (100, 1)
    assert not inbound.kem_prekey_last_resort
    assert b.matches_prekey_message(second)
    assert b.decrypt(second) == b"two"
    assert a.decrypt(b.encrypt(b"three")) == b"three"
    assert not a.awaiting_reply
    assert wire.message_type(a.encrypt(b"four")) is wire.MessageType.MESSAGE


def test_identities_are_exposed_for_pinning(alice: Device, bob: Device) -> None:
    a = Session.initiate(alice.identity, bob.bundle())
    b = Session.respond(bob.identity, bob.store, a.encrypt(b"x")).session
    assert a.remote_identity == b.local_identity_public == bob.identity.public
    assert b.remote_identity == a.local_identity_public == alice.identity.public


def test_last_resort_kem_prekey_without_one_time_prekey(alice: Device, bob: Device) -> None:
    a = Session.initiate(alice.identity, bob.bundle(one_time_id=None, last_resort=True))
    inbound = Session.respond(bob.identity, bob.store, a.encrypt(b"x"))
    assert inbound.one_time_prekey_id is None
    assert (inbound.kem_prekey_id, inbound.kem_prekey_last_resort) == (900, True)
    assert a.decrypt(inbound.session.encrypt(b"y")) == b"y"


def test_respond_needs_the_named_prekeys(
    alice: Device, bob: Device, make_device: Callable[[], Device]
) -> None:
    other = make_device()
    message = Session.initiate(alice.identity, other.bundle(one_time_id=101)).encrypt(b"x")
    bob_store_without = type(bob.store)()
    bob_store_without.add_signed(other.store.signed_prekey(1))
    bob_store_without.add_kem([other.store.kem_prekey(1)])
    with pytest.raises(UnknownPreKey, match="one-time prekey with id 101"):
        Session.respond(other.identity, bob_store_without, message)
    with pytest.raises(UnknownPreKey, match="signed prekey"):
        Session.respond(other.identity, type(bob.store)(), message)


def test_every_bit_flip_of_a_prekey_message_is_rejected(alice: Device, bob: Device) -> None:
    message = Session.initiate(alice.identity, bob.bundle()).encrypt(b"secret")
    # Every byte of IK_A, EK_A, the ids, CT and the payload; one bit per byte keeps it fast.
    for byte in range(len(message)):
        with pytest.raises(ProtocolError):
            Session.respond(bob.identity, bob.store, flip(message, byte * 8 + byte % 8))


def test_tampered_prekey_identity_fails_its_binding(alice: Device, bob: Device) -> None:
    message = Session.initiate(alice.identity, bob.bundle()).encrypt(b"secret")
    with pytest.raises(VerificationError, match="identity binding"):
        Session.respond(bob.identity, bob.store, flip(message, 8 * 40))


def test_prekey_message_of_another_session_is_refused(alice: Device, bob: Device) -> None:
    a1 = Session.initiate(alice.identity, bob.bundle())
    b1 = Session.respond(bob.identity, bob.store, a1.encrypt(b"x")).session
    other = Session.initiate(alice.identity, bob.bundle()).encrypt(b"y")
    assert not b1.matches_prekey_message(other)
    before = b1.to_bytes()
    with pytest.raises(SessionStateError, match="different session"):
        b1.decrypt(other)
    assert b1.to_bytes() == before
    with pytest.raises(DecodeError):
        b1.matches_prekey_message(b1.encrypt(b"ratchet message"))


def test_out_of_order_within_and_across_chains(pair: tuple[Session, Session]) -> None:
    a, b = pair
    first = [a.encrypt(b"a%d" % i) for i in range(5)]
    reply = b.encrypt(b"b0")
    assert a.decrypt(reply) == b"b0"
    second = [a.encrypt(b"A%d" % i) for i in range(3)]
    assert b.decrypt(second[2]) == b"A2"
    assert b.decrypt(first[3]) == b"a3"
    assert b.decrypt(second[0]) == b"A0"
    for i in (4, 0, 2, 1):
        assert b.decrypt(first[i]) == b"a%d" % i
    assert b.decrypt(second[1]) == b"A1"


def test_replays_are_duplicates_and_change_nothing(pair: tuple[Session, Session]) -> None:
    a, b = pair
    in_order, skipped, late = (a.encrypt(b"%d" % i) for i in range(3))
    assert b.decrypt(in_order) == b"0"
    assert b.decrypt(late) == b"2"
    assert b.decrypt(skipped) == b"1"
    a.decrypt(b.encrypt(b"turn"))
    b.decrypt(a.encrypt(b"new chain"))
    for replay in (in_order, skipped, late):
        before = b.to_bytes()
        with pytest.raises(DuplicateMessage):
            b.decrypt(replay)
        assert b.to_bytes() == before


def lose_messages(session: Session, count: int) -> None:
    """State surgery: advance the sending chain as if ``count`` messages were sent and lost."""
    chain = session._sending_chain
    assert chain is not None
    for _ in range(count):
        chain = ratchet.next_chain_key(chain)
    session._sending_chain = chain
    session._sent += count


def _assert_every_flip_rejected(session: Session, message: bytes) -> None:
    before = session.to_bytes()
    for bit in range(len(message) * 8):
        with pytest.raises(ProtocolError):
            session.decrypt(flip(message, bit))
        assert session.to_bytes() == before


def test_bit_flips_in_a_same_chain_message_leave_state_unchanged(
    pair: tuple[Session, Session],
) -> None:
    a, b = pair
    a.encrypt(b"skipped, so the store is not empty")
    message = a.encrypt(b"target")
    _assert_every_flip_rejected(b, message)
    assert b.decrypt(message) == b"target"


def test_bit_flips_in_a_dh_step_message_leave_state_unchanged(
    pair: tuple[Session, Session],
) -> None:
    a, b = pair
    b.decrypt(a.encrypt(b"x"))
    message = b.encrypt(b"carries a new ratchet key for a")
    _assert_every_flip_rejected(a, message)
    assert a.decrypt(message) == b"carries a new ratchet key for a"


def test_forward_jump_is_bounded_by_max_skip(pair: tuple[Session, Session]) -> None:
    a, b = pair
    probe = Session.from_bytes(a.to_bytes())
    lose_messages(probe, MAX_SKIP + 1)
    too_far = probe.encrypt(b"too far")
    before = b.to_bytes()
    with pytest.raises(TooManySkippedMessages, match=f"more than {MAX_SKIP}"):
        b.decrypt(too_far)
    assert b.to_bytes() == before
    lose_messages(a, MAX_SKIP)
    assert b.decrypt(a.encrypt(b"just within")) == b"just within"
    assert len(b._skipped) == MAX_STORED_SKIPPED_KEYS


def test_previous_chain_length_is_bounded_by_max_skip(pair: tuple[Session, Session]) -> None:
    a, b = pair
    lose_messages(a, MAX_SKIP + 1)  # b has received only counter 0 of a's chain
    assert a.decrypt(b.encrypt(b"turn")) == b"turn"
    before = b.to_bytes()
    with pytest.raises(TooManySkippedMessages):
        b.decrypt(a.encrypt(b"claims a long previous chain"))
    assert b.to_bytes() == before


def test_oldest_skipped_keys_are_evicted(pair: tuple[Session, Session]) -> None:
    a, b = pair
    extra = 100
    messages = [a.encrypt(b"%d" % i) for i in range(MAX_STORED_SKIPPED_KEYS + extra + 1)]
    assert b.decrypt(messages[-1]) == b"%d" % (MAX_STORED_SKIPPED_KEYS + extra)
    assert len(b._skipped) == MAX_STORED_SKIPPED_KEYS
    with pytest.raises(DuplicateMessage):
        b.decrypt(messages[extra - 1])
    assert b.decrypt(messages[extra]) == b"%d" % extra
    # Keys skipped on a new chain push out the oldest of the previous one.
    a.decrypt(b.encrypt(b"turn"))
    later = [a.encrypt(b"L%d" % i) for i in range(3)]
    assert b.decrypt(later[2]) == b"L2"
    with pytest.raises(DuplicateMessage):
        b.decrypt(messages[extra + 1])
    assert b.decrypt(later[0]) == b"L0"
    assert b.decrypt(messages[extra + 3]) == b"%d" % (extra + 3)


def test_only_recent_receiving_chains_are_remembered(pair: tuple[Session, Session]) -> None:
    a, b = pair
    for _ in range(MAX_PREVIOUS_RECEIVING_CHAINS + 2):
        b.decrypt(a.encrypt(b"ping"))
        a.decrypt(b.encrypt(b"pong"))
    assert len(b._previous_receiving_keys) == MAX_PREVIOUS_RECEIVING_CHAINS


def test_plaintext_size_limits(pair: tuple[Session, Session]) -> None:
    a, b = pair
    assert b.decrypt(a.encrypt(b"")) == b""
    assert b.decrypt(a.encrypt(bytes(MAX_PLAINTEXT_LEN))) == bytes(MAX_PLAINTEXT_LEN)
    with pytest.raises(PlaintextTooLarge, match="more than"):
        a.encrypt(bytes(MAX_PLAINTEXT_LEN + 1))


def test_state_round_trips_mid_conversation(pair: tuple[Session, Session]) -> None:
    a, b = pair
    pending = [a.encrypt(b"%d" % i) for i in range(4)]
    b.decrypt(pending[3])
    for session in (a, b):
        state = session.to_bytes()
        restored = Session.from_bytes(state)
        assert restored.to_bytes() == state
        assert restored.remote_identity == session.remote_identity
    b = Session.from_bytes(b.to_bytes())
    assert [b.decrypt(m) for m in pending[:3]] == [b"0", b"1", b"2"]
    a = Session.from_bytes(a.to_bytes())
    assert a.decrypt(b.encrypt(b"after restore")) == b"after restore"


def test_pending_prekey_state_round_trips(alice: Device, bob: Device) -> None:
    a = Session.from_bytes(Session.initiate(alice.identity, bob.bundle()).to_bytes())
    assert a.awaiting_reply
    inbound = Session.respond(bob.identity, bob.store, a.encrypt(b"x"))
    assert inbound.plaintext == b"x"


def test_corrupt_state_is_rejected(pair: tuple[Session, Session]) -> None:
    a, b = pair
    b.decrypt(a.encrypt(b"x"))
    a.encrypt(b"skipped")
    b.decrypt(a.encrypt(b"y"))
    state = b.to_bytes()
    for cut in range(len(state)):
        with pytest.raises(DecodeError):
            Session.from_bytes(state[:cut])
    for bad, complaint in (
        (state + b"\x00", "1 trailing bytes"),
        (b"\x07" + state[1:], "unknown session state version 7"),
        (state[:1] + b"\x80" + state[2:], "unknown flags"),
        (state[:2] + b"\x05" + state[3:], "identity of unknown version"),
        (bytes(MAX_SESSION_STATE_LEN + 1), "more than"),
        (state[:-70] + b"\xff\xff" + state[-68:], f"more than {MAX_STORED_SKIPPED_KEYS}"),
    ):
        with pytest.raises(DecodeError, match=complaint):
            Session.from_bytes(bad)


def test_nothing_secret_in_reprs(alice: Device, bob: Device) -> None:
    a = Session.initiate(alice.identity, bob.bundle())
    inbound = Session.respond(bob.identity, bob.store, a.encrypt(b"top secret"))
    for text in (repr(a), repr(inbound), repr(inbound.session)):
        assert "top secret" not in text
        assert a._root_key.hex()[:16] not in text
        assert a._sending_key.private_bytes().hex()[:16] not in text


def test_decryption_error_hierarchy() -> None:
    assert issubclass(DuplicateMessage, DecryptionError)
    assert issubclass(TooManySkippedMessages, DecryptionError)
    assert issubclass(DecryptionError, ProtocolError)


def test_counters_stop_before_the_u32_limit(pair: tuple[Session, Session]) -> None:
    a, b = pair
    a._sent = MAX_COUNTER  # state surgery: a chain of four billion messages
    with pytest.raises(SessionStateError, match="exhausted"):
        a.encrypt(b"x")
    forged = a._header_prefix + MAX_COUNTER.to_bytes(4, "big") + bytes(176)
    before = b.to_bytes()
    with pytest.raises(DecryptionError, match="beyond the last usable"):
        b.decrypt(forged)
    assert b.to_bytes() == before
