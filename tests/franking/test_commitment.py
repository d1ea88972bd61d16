"""Franking commitments and delivery tags bind exactly what they claim to."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.public.franking import (
    Delivery,
    FrankingMismatch,
    check_commitment,
    check_tag,
    commitment,
    delivery_tag,
)

KEY = bytes(range(32))
SERVER = bytes(range(32, 64))
DELIVERY = Delivery("bob@photos", 1, 1_700_000_000_000, "alice@chat", 2, "m-1")


def test_the_commitment_opens_only_to_its_content_and_certificate() -> None:
    c = commitment(KEY, b"hello", b"cert")
    check_commitment(c, KEY, b"hello", b"cert")
    for content, cert, key in (
        (b"hellO", b"cert", KEY),
        (b"hello", b"", KEY),
        (b"hello", b"cerT", KEY),
        (b"hello", b"cert", bytes(32)),
    ):
        with pytest.raises(FrankingMismatch) as failure:
            check_commitment(c, key, content, cert)
        assert failure.value.reason == "commitment-mismatch"


def test_length_prefixes_keep_content_and_certificate_apart() -> None:
    # Moving a byte from the content into the certificate changes the commitment.
    assert commitment(KEY, b"ab", b"c") != commitment(KEY, b"a", b"bc")


@given(st.binary(min_size=1, max_size=200), st.binary(min_size=1, max_size=200))
def test_two_contents_never_share_a_commitment_under_one_key(a: bytes, b: bytes) -> None:
    # The invisible-salamanders property: one commitment, one content.
    if a != b:
        assert commitment(KEY, a) != commitment(KEY, b)


@pytest.mark.parametrize(
    "changed",
    [
        {"recipient": "eve@photos"},
        {"recipient_device": 2},
        {"server_ts": 1_700_000_000_001},
        {"sender": "mallory@chat"},
        {"sender": None, "sender_device": None},
        {"sender_device": 3},
        {"message_id": "m-2"},
    ],
)
def test_the_tag_binds_every_delivery_field(changed: dict[str, object]) -> None:
    c = commitment(KEY, b"hello")
    tag = delivery_tag(SERVER, c, DELIVERY)
    check_tag(SERVER, tag, c, DELIVERY)
    with pytest.raises(FrankingMismatch) as failure:
        check_tag(SERVER, tag, c, replace(DELIVERY, **changed))  # type: ignore[arg-type]
    assert failure.value.reason == "tag-mismatch"


def test_the_tag_binds_the_commitment_and_the_server_key() -> None:
    c = commitment(KEY, b"hello")
    tag = delivery_tag(SERVER, c, DELIVERY)
    with pytest.raises(FrankingMismatch):
        check_tag(SERVER, tag, commitment(KEY, b"other"), DELIVERY)
    with pytest.raises(FrankingMismatch):
        check_tag(bytes(32), tag, c, DELIVERY)


def test_malformed_inputs_are_typed_errors() -> None:
    with pytest.raises(DecodeError, match="franking key"):
        commitment(KEY[:31], b"x")
    with pytest.raises(DecodeError, match="no content"):
        commitment(KEY, b"")
    with pytest.raises(DecodeError, match="commitment"):
        delivery_tag(SERVER, b"short", DELIVERY)
    with pytest.raises(DecodeError, match="too long"):
        delivery_tag(SERVER, bytes(32), replace(DELIVERY, recipient="x" * 300))


def test_franked_plaintexts_round_trip_with_a_fresh_key_each() -> None:
    first = FrankedPlaintext.new(b"content", bytes(32))
    second = FrankedPlaintext.new(b"content")
    assert first.franking_key != second.franking_key
    for franked in (first, second):
        again = FrankedPlaintext.from_bytes(franked.to_bytes())
        assert again == franked
        again.check(franked.commitment())
    assert FrankedPlaintext.from_bytes(second.to_bytes()).profile_key is None
    assert "content" not in repr(first) and first.franking_key.hex() not in repr(first)


def test_the_profile_key_is_not_committed() -> None:
    # A report reveals the committed content, never the sender's profile key.
    franked = FrankedPlaintext.new(b"content", bytes(32))
    assert franked.commitment() == commitment(franked.franking_key, b"content")


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"", "truncated"),
        (b"\x02" + bytes(40), "version"),
        (b"\x01" + bytes(20), "truncated"),
        (b"\x01" + bytes(32) + b"\x02" + b"x", "flags"),
        (b"\x01" + bytes(32) + b"\x01" + bytes(10), "truncated"),
        (b"\x01" + bytes(32) + b"\x00", "no content"),
    ],
)
def test_malformed_franked_plaintexts_name_their_fault(data: bytes, fault: str) -> None:
    with pytest.raises(DecodeError, match=fault):
        FrankedPlaintext.from_bytes(data)
