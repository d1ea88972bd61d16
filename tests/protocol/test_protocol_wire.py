"""Wire formats: layout, and typed rejection of every malformed input."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sottovoce.protocol import wire
from sottovoce.protocol.errors import DecodeError, ProtocolError
from sottovoce.protocol.limits import MAX_PLAINTEXT_LEN
from sottovoce.protocol.session import Session
from sottovoce.protocol.wire import MessageType

if TYPE_CHECKING:
    from conftest import Device


@pytest.fixture(scope="module")
def messages(alice: Device, bob: Device) -> tuple[bytes, bytes]:
    """A PreKey message (with one-time prekey) and a plain ratchet message."""
    a = Session.initiate(alice.identity, bob.bundle())
    prekey = a.encrypt(b"first")
    b = Session.respond(bob.identity, bob.store, prekey).session
    return prekey, b.encrypt(b"reply")


def test_ratchet_message_layout(messages: tuple[bytes, bytes]) -> None:
    _, message = messages
    assert message[:2] == bytes([wire.WIRE_VERSION, MessageType.MESSAGE])
    assert wire.message_type(message) is MessageType.MESSAGE
    decoded = wire.decode_ratchet_message(message)
    assert decoded.header == message[: wire.RATCHET_HEADER_LEN]
    assert decoded.header == wire.ratchet_header_prefix(
        decoded.ratchet_key, decoded.previous_counter
    ) + decoded.counter.to_bytes(4, "big")
    assert (decoded.previous_counter, decoded.counter) == (0, 0)
    assert len(decoded.ciphertext) == 160 + 16
    assert decoded.header + decoded.ciphertext == message


def test_prekey_message_layout(messages: tuple[bytes, bytes], alice: Device) -> None:
    prekey, _ = messages
    assert wire.message_type(prekey) is MessageType.PREKEY
    decoded = wire.decode_prekey_message(prekey)
    assert decoded.identity == alice.identity.public.to_bytes()
    assert (decoded.signed_prekey_id, decoded.kem_prekey_id, decoded.one_time_prekey_id) == (
        1,
        1,
        100,
    )
    assert wire.prekey_message_base_key(prekey) == decoded.base_key
    header = wire.encode_prekey_header(
        decoded.identity,
        decoded.base_key,
        decoded.signed_prekey_id,
        decoded.kem_prekey_id,
        decoded.one_time_prekey_id,
        decoded.kem_ciphertext,
    )
    assert prekey == header + decoded.message.header + decoded.message.ciphertext


def test_prekey_message_without_one_time_prekey(alice: Device, bob: Device) -> None:
    prekey = Session.initiate(alice.identity, bob.bundle(one_time_id=None)).encrypt(b"x")
    assert wire.decode_prekey_message(prekey).one_time_prekey_id is None


def test_largest_plaintext_fits_the_decoder(alice: Device, bob: Device) -> None:
    prekey = Session.initiate(alice.identity, bob.bundle()).encrypt(bytes(MAX_PLAINTEXT_LEN))
    assert len(prekey) <= wire.MAX_MESSAGE_LEN
    assert wire.decode_prekey_message(prekey).message.counter == 0


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"", "empty"),
        (b"\x02\x02" + bytes(300), "unknown message version 2"),
        (b"\x00", "unknown message version 0"),
        (b"\x01", "truncated in type"),
        (bytes(wire.MAX_MESSAGE_LEN + 1), "more than"),
    ],
)
def test_every_decoder_rejects_a_bad_envelope(data: bytes, complaint: str) -> None:
    for decode in (wire.message_type, wire.decode_ratchet_message, wire.decode_prekey_message):
        with pytest.raises(DecodeError, match=complaint):
            decode(data)


def test_unknown_message_type() -> None:
    with pytest.raises(DecodeError, match="unknown message type 9"):
        wire.message_type(b"\x01\x09" + bytes(40))


def test_each_decoder_refuses_the_other_type(messages: tuple[bytes, bytes]) -> None:
    prekey, message = messages
    with pytest.raises(DecodeError, match="expected a ratchet message"):
        wire.decode_ratchet_message(prekey[: wire.MAX_RATCHET_MESSAGE_LEN])
    with pytest.raises(DecodeError, match="expected a PreKey message"):
        wire.decode_prekey_message(message)
    with pytest.raises(DecodeError, match="expected a PreKey message"):
        wire.prekey_message_base_key(message)


def test_every_truncation_is_rejected(messages: tuple[bytes, bytes]) -> None:
    prekey, message = messages
    for cut in range(len(message)):
        with pytest.raises(DecodeError):
            wire.decode_ratchet_message(message[:cut])
    for cut in range(len(prekey)):
        with pytest.raises(DecodeError):
            wire.decode_prekey_message(prekey[:cut])


@pytest.mark.parametrize("extra", [1, 15, 16, 159, 161])
def test_trailing_bytes_are_rejected(messages: tuple[bytes, bytes], extra: int) -> None:
    prekey, message = messages
    with pytest.raises(DecodeError, match="not a padded plaintext plus its tag"):
        wire.decode_ratchet_message(message + bytes(extra))
    with pytest.raises(DecodeError, match="not a padded plaintext plus its tag"):
        wire.decode_prekey_message(prekey + bytes(extra))


def test_oversized_ratchet_message_is_rejected(messages: tuple[bytes, bytes]) -> None:
    _, message = messages
    oversized = message[: wire.RATCHET_HEADER_LEN] + bytes(wire.MAX_CIPHERTEXT_LEN + 160)
    with pytest.raises(DecodeError, match="more than"):
        wire.decode_ratchet_message(oversized)


def test_bad_one_time_flag_is_rejected(messages: tuple[bytes, bytes]) -> None:
    prekey, _ = messages
    flag_offset = 2 + 129 + 32 + 4 + 4
    assert prekey[flag_offset] == 1
    bad = prekey[:flag_offset] + b"\x02" + prekey[flag_offset + 1 :]
    with pytest.raises(DecodeError, match="one-time flag 2"):
        wire.decode_prekey_message(bad)


def test_inner_message_must_be_a_ratchet_message(messages: tuple[bytes, bytes]) -> None:
    prekey, _ = messages
    inner_offset = len(prekey) - len(wire.decode_prekey_message(prekey).message.header) - 176
    bad = prekey[:inner_offset] + b"\x01\x01" + prekey[inner_offset + 2 :]
    with pytest.raises(DecodeError, match="expected a ratchet message"):
        wire.decode_prekey_message(bad)


def test_decode_errors_are_protocol_errors() -> None:
    assert issubclass(DecodeError, ProtocolError)
