"""The group payloads beyond text and name: attachments, quotes, timers, and the
one-to-one receipts, typing indicators and deletions inside MLS; hostile ones are
refused with the field named and no value quoted."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.content import DeleteContent, Quote, ReceiptContent, TypingContent
from sottovoce.client.disappearing import TIMERS
from sottovoce.client.errors import InvalidMessage
from sottovoce.client.group_content import (
    GroupContent,
    GroupTimerContent,
    decode_group_payload,
)

POINTER = AttachmentPointer(
    "A" * 22,
    bytes(32),
    bytes(range(32)),
    1234,
    "photo.jpg",
    "image/jpeg",
    "data:image/jpeg;base64,AAAA",
)


@given(
    st.text(max_size=100),
    st.sampled_from(sorted(TIMERS)),
    st.booleans(),
    st.booleans(),
)
def test_a_text_with_attachment_quote_and_timer_round_trips(
    text: str, timer: int, with_attachment: bool, with_quote: bool
) -> None:
    attachment = POINTER if with_attachment or not text else None
    quote = Quote("orig_1", "bob@photos", "what time?") if with_quote else None
    content = GroupContent("text", "m1", text, 7, attachment, quote, timer)
    assert decode_group_payload(content.encode()) == content


def test_controls_round_trip() -> None:
    for control in (
        GroupTimerContent("t1", 3_600, 9),
        ReceiptContent("r1", "read", ("a", "b"), 9),
        TypingContent("y1", True, 9),
        DeleteContent("d1", "m1", 9),
    ):
        assert decode_group_payload(control.encode()) == control


def _text(**extra: object) -> bytes:
    return json.dumps(
        {"v": 1, "kind": "text", "id": "m", "text": "s3cr3t", "sent_at": 1, **extra}
    ).encode()


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (_text(timer=42), "timer"),
        (_text(timer=True), "timer"),
        (_text(att={"blob": "s3cr3t"}), "blob id"),
        (_text(att={**POINTER.to_json(), "key": base64.b64encode(b"short").decode()}), "key"),
        (_text(quote={"id": "bad id", "author": "a", "text": "s3cr3t"}), "quote"),
        (_text(quote={"id": "q", "author": "a", "text": "s3cr3t" * 40}), "quote"),
        (json.dumps({"v": 1, "kind": "text", "id": "m", "text": "", "sent_at": 1}).encode(),
         "text"),
        (json.dumps({"v": 1, "kind": "timer", "id": "t", "timer": 5, "sent_at": 1}).encode(),
         "timer"),
        (json.dumps({"v": 1, "kind": "timer", "id": "t", "timer": 300, "sent_at": -1}).encode(),
         "sent_at"),
        (json.dumps({"v": 2, "kind": "timer", "id": "t", "timer": 300, "sent_at": 1}).encode(),
         "version 1"),
        (json.dumps({"v": 1, "kind": "receipt", "id": "r", "type": "seen", "ids": ["a"],
                     "sent_at": 1}).encode(), "type"),
        (json.dumps({"v": 1, "kind": "receipt", "id": "r", "type": "read", "ids": [],
                     "sent_at": 1}).encode(), "message ids"),
        (json.dumps({"v": 1, "kind": "delete", "id": "d", "target": "s3 cr3t",
                     "sent_at": 1}).encode(), "target"),
        (json.dumps({"v": 1, "kind": "typing", "id": "y", "started": "yes",
                     "sent_at": 1}).encode(), "started"),
        (json.dumps({"v": 1, "kind": "poll", "id": "p", "sent_at": 1}).encode(), "kind"),
    ],
)  # fmt: skip
def test_hostile_payloads_are_refused_without_quoting_them(payload: bytes, named: str) -> None:
    with pytest.raises(InvalidMessage, match=named) as refused:
        decode_group_payload(payload)
    assert "s3cr3t" not in str(refused.value)


def test_a_name_carries_no_attachment_or_timer() -> None:
    """Only texts have them: a name with an ``att`` or ``timer`` is read as a plain name."""
    payload = json.dumps(
        {"v": 1, "kind": "name", "id": "n", "name": "family", "sent_at": 1, "timer": 42,
         "att": {"blob": "x"}}
    ).encode()  # fmt: skip
    assert decode_group_payload(payload) == GroupContent("name", "n", "family", 1)
