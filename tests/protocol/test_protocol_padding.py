"""The 160-byte bucket padding: lengths it produces and inputs unpad must reject."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.protocol.errors import DecodeError, PaddingError
from sottovoce.protocol.padding import PADDING_BLOCK, pad, padded_length, unpad


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=5 * PADDING_BLOCK))
def test_pad_round_trips_into_whole_blocks(plaintext: bytes) -> None:
    padded = pad(plaintext)
    assert len(padded) == padded_length(len(plaintext))
    assert len(padded) % PADDING_BLOCK == 0
    assert len(plaintext) < len(padded) <= len(plaintext) + PADDING_BLOCK
    assert unpad(padded) == plaintext


@pytest.mark.parametrize(
    ("length", "expected"), [(0, 160), (1, 160), (159, 160), (160, 320), (319, 320), (320, 480)]
)
def test_bucket_boundaries(length: int, expected: int) -> None:
    assert len(pad(bytes(length))) == expected


def test_messages_within_a_bucket_look_alike() -> None:
    assert len(pad(b"")) == len(pad(b"ok")) == len(pad(b"x" * 159))


@pytest.mark.parametrize(
    ("padded", "complaint"),
    [
        (b"", "positive multiple"),
        (b"\x80" + bytes(158), "positive multiple"),
        (bytes(160), "0x80 marker"),
        (b"abc" + bytes(157), "0x80 marker"),
        (b"abc\x80\x01" + bytes(155), "0x80 marker"),
        (b"\x80" + bytes(319), "longer than one"),
    ],
)
def test_malformed_padding_is_rejected(padded: bytes, complaint: str) -> None:
    with pytest.raises(PaddingError, match=complaint):
        unpad(padded)
    assert issubclass(PaddingError, DecodeError)
