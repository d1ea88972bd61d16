"""The WebSocket's ``sent`` frame, written out by hand, is the JSON ``json.dumps``
gives for the same answer (routes.websocket._sent_frame)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sottovoce.server.routes.websocket import MAX_REQUEST_ID, _sent_frame
from sottovoce.server.sending import MESSAGE_ID, SendResult


@given(
    request_id=st.integers(0, MAX_REQUEST_ID),
    message_id=st.from_regex(MESSAGE_ID, fullmatch=True),
    stored=st.integers(0, 10_000),
    duplicate=st.booleans(),
)
def test_the_sent_frame_is_the_json_of_the_answer(
    request_id: int, message_id: str, stored: int, duplicate: bool
) -> None:
    result = SendResult(message_id=message_id, stored=stored, duplicate=duplicate)
    expected = json.dumps({"type": "sent", "request_id": request_id, "result": result.model_dump()})
    assert _sent_frame(request_id, result) == expected
