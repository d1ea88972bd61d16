"""What a group message carries inside MLS: its two kinds, and refusals that name the
field without quoting it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.client.errors import InvalidMessage
from sottovoce.client.group_content import (
    MAX_GROUP_NAME_LEN,
    GroupContent,
    check_group_name,
    decode_group_content,
)


@given(st.text(min_size=1, max_size=200), st.integers(0, 2**53))
def test_text_round_trips(text: str, sent_at: int) -> None:
    content = GroupContent("text", "abc_-1", text, sent_at)
    assert decode_group_content(content.encode()) == content


def test_a_name_round_trips_and_is_checked() -> None:
    content = GroupContent("name", "id1", "family", 5)
    assert decode_group_content(content.encode()) == content
    for bad in ("", " padded ", "tab\there", "x" * (MAX_GROUP_NAME_LEN + 1)):
        with pytest.raises(InvalidMessage):
            check_group_name(bad)
    with pytest.raises(InvalidMessage, match="group name"):
        decode_group_content(GroupContent("name", "id1", "line\nbreak", 5).encode())


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8 JSON"),
        (b"[]", "version 1"),
        (json.dumps({"v": 2, "kind": "text"}).encode(), "version 1"),
        (json.dumps({"v": 1, "kind": "poll"}).encode(), "kind"),
        (json.dumps({"v": 1, "kind": "text", "text": "", "id": "a", "sent_at": 1}).encode(),
         "text"),
        (json.dumps({"v": 1, "kind": "text", "text": "s3cr3t", "id": "a b", "sent_at": 1}).encode(),
         "message id"),
        (json.dumps({"v": 1, "kind": "text", "text": "s3cr3t", "id": "a", "sent_at": -1}).encode(),
         "sent_at"),
    ],
)  # fmt: skip
def test_malformed_payloads_are_refused_without_quoting_them(payload: bytes, named: str) -> None:
    with pytest.raises(InvalidMessage, match=named) as refused:
        decode_group_content(payload)
    assert "s3cr3t" not in str(refused.value)
