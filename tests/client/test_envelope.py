"""Delivered envelopes are checked field by field before anything decrypts them."""

from __future__ import annotations

import base64

import pytest

from sottovoce.client.envelope import parse_envelope, queue_id_of
from sottovoce.client.errors import MalformedResponse
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import (
    InMemoryPreKeyStore,
    generate_kem_prekeys,
    generate_signed_prekey,
)
from sottovoce.protocol.session import Session
from sottovoce.protocol.wire import MAX_MESSAGE_LEN, MessageType


@pytest.fixture(scope="module")
def wire_messages() -> tuple[bytes, bytes]:
    """A real PreKey message and a real ratchet message (the responder's reply)."""
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    store = InMemoryPreKeyStore()
    signed = generate_signed_prekey(bob, 1)
    (kem_key,) = generate_kem_prekeys(bob, 1, 1, last_resort=True)
    store.add_signed(signed)
    store.add_kem([kem_key])
    bundle = PreKeyBundle(
        bob.public, 1, signed.public, signed.signature, 1, kem_key.public, kem_key.signature,
        True, None, None,
    )  # fmt: skip
    prekey_message = Session.initiate(alice, bundle).encrypt(b"hello")
    reply = Session.respond(bob, store, prekey_message).session.encrypt(b"hi")
    return prekey_message, reply


def delivered(wire: bytes, **changes: object) -> dict[str, object]:
    envelope: dict[str, object] = {
        "id": 7,
        "message_id": "m-1_A",
        "sender": "alice@chat",
        "sender_device": 1,
        "type": "prekey",
        "body": base64.b64encode(wire).decode(),
        "server_ts": 1_700_000_000_000,
    }
    envelope.update(changes)
    return {k: v for k, v in envelope.items() if v is not None}


def test_well_formed_envelopes_parse(wire_messages: tuple[bytes, bytes]) -> None:
    prekey_message, reply = wire_messages
    envelope = parse_envelope(delivered(prekey_message))
    assert (envelope.queue_id, envelope.sender, envelope.sender_device) == (7, "alice@chat", 1)
    assert envelope.kind is MessageType.PREKEY and envelope.body == prekey_message
    assert envelope.dedup_key == "alice@chat/1/m-1_A"
    assert parse_envelope(delivered(reply, type="message")).kind is MessageType.MESSAGE
    assert "hello" not in repr(envelope) and str(len(prekey_message)) in repr(envelope)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": None}, "envelope.id"),
        ({"id": 0}, "envelope.id"),
        ({"id": True}, "envelope.id"),
        ({"message_id": None}, "lacks 'message_id'"),
        ({"message_id": "a/b"}, "envelope.message_id"),
        ({"message_id": "x" * 65}, "envelope.message_id"),
        ({"sender": "Alice"}, "envelope.sender"),
        ({"sender": 5}, "envelope.sender is not a string"),
        ({"sender_device": 0}, "envelope.sender_device"),
        ({"sender_device": "1"}, "envelope.sender_device is not an integer"),
        ({"type": "bogus"}, "envelope.type"),
        ({"type": "sealed", "body": ""}, "sealed envelope's size"),
        ({"commitment": "***"}, "envelope.commitment is not standard base64"),
        ({"body": "***"}, "envelope.body is not standard base64"),
        ({"body": ""}, "envelope.body is empty"),
        ({"body": base64.b64encode(b"\x01" * (MAX_MESSAGE_LEN + 1)).decode()}, "longer than"),
        ({"body": base64.b64encode(b"\x09\x02junk").decode()}, "not a protocol message"),
        ({"type": "message"}, "does not match"),
        ({"server_ts": None}, "lacks 'server_ts'"),
    ],
)
def test_malformed_envelopes_name_the_field(
    wire_messages: tuple[bytes, bytes], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(MalformedResponse, match=message):
        parse_envelope(delivered(wire_messages[0], **changes))


def test_non_objects_are_malformed() -> None:
    with pytest.raises(MalformedResponse, match="not a JSON object"):
        parse_envelope(["id", 7])


def test_queue_id_is_found_even_in_otherwise_broken_envelopes() -> None:
    assert queue_id_of({"id": 12, "body": None}) == 12
    assert queue_id_of({"id": "12"}) is None
    assert queue_id_of("12") is None
