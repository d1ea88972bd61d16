"""The payload inside the encryption: versioned, typed, bounded, never echoed in errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.client.content import MAX_CONTENT_LEN, TextContent, decode_content
from sottovoce.client.errors import InvalidMessage
from sottovoce.protocol.limits import MAX_PLAINTEXT_LEN

message_ids = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")


@settings(max_examples=100, deadline=None)
@given(
    message_id=message_ids,
    text=st.text(min_size=1, max_size=300),
    sent_at=st.integers(min_value=0, max_value=2**53),
)
def test_text_content_round_trips(message_id: str, text: str, sent_at: int) -> None:
    content = TextContent(message_id, text, sent_at)
    assert decode_content(content.encode()) == content


def test_encoding_is_versioned_and_typed() -> None:
    payload = json.loads(TextContent("m1", "héllo", 5).encode())
    assert payload == {"v": 1, "kind": "text", "id": "m1", "text": "héllo", "sent_at": 5}


def test_the_size_bound_fits_one_envelope() -> None:
    assert MAX_CONTENT_LEN < MAX_PLAINTEXT_LEN
    TextContent("m1", "x" * (MAX_CONTENT_LEN - 100), 0).encode()
    with pytest.raises(InvalidMessage, match="at most"):
        TextContent("m1", "x" * MAX_CONTENT_LEN, 0).encode()
    # Non-ASCII text counts by its UTF-8 bytes, not escaped to six bytes a character.
    TextContent("m1", "é" * ((MAX_CONTENT_LEN - 100) // 2), 0).encode()


def test_empty_text_is_refused() -> None:
    with pytest.raises(InvalidMessage, match="needs some text"):
        TextContent("m1", "", 0).encode()


def payload(**changes: object) -> bytes:
    base: dict[str, object] = {"v": 1, "kind": "text", "id": "m1", "text": "hi", "sent_at": 1}
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"x" * (MAX_CONTENT_LEN + 1), "more than"),
        (payload(v=2), "unknown version"),
        (payload(kind="reaction"), "kind this client does not support"),
        (payload(text=""), "text is missing or empty"),
        (payload(text=7), "text is missing or empty"),
        (payload(id="has space"), "message id"),
        (payload(id=None), "message id"),
        (payload(sent_at=-1), "sent_at"),
        (payload(sent_at=True), "sent_at"),
        (payload(sent_at="1"), "sent_at"),
    ],
)
def test_malformed_payloads_name_the_fault(data: bytes, message: str) -> None:
    with pytest.raises(InvalidMessage, match=message):
        decode_content(data)


def test_errors_and_reprs_never_quote_the_plaintext() -> None:
    secret = "meet at the old mill"
    with pytest.raises(InvalidMessage) as caught:
        decode_content(payload(kind=secret))
    assert secret not in str(caught.value)
    assert secret not in repr(TextContent("m1", secret, 0))
