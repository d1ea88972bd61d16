"""The forward count in the encrypted payload: encoded only when set, checked on
the way in like every other field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.client.content import MAX_FORWARD_COUNT, TextContent, decode_content
from sottovoce.client.errors import InvalidMessage


def test_an_original_message_encodes_as_before() -> None:
    assert b"fwd" not in TextContent("m1", "hi", 5).encode()


@given(st.integers(min_value=0, max_value=MAX_FORWARD_COUNT))
def test_the_count_round_trips(count: int) -> None:
    decoded = decode_content(TextContent("m1", "hi", 5, count).encode())
    assert decoded.forwarded == count


@pytest.mark.parametrize("bad", [-1, MAX_FORWARD_COUNT + 1, True, "3", 2.5, None, [1]])
def test_malformed_counts_are_refused(bad: object) -> None:
    payload = {"v": 1, "kind": "text", "id": "m1", "text": "hi", "sent_at": 5, "fwd": bad}
    with pytest.raises(InvalidMessage, match="forward count"):
        decode_content(json.dumps(payload).encode())
