"""The WebSocket's ``envelope`` frame, written out by hand, is the JSON of the
delivered message's model for any stored row (routes.websocket._envelope_frame),
whatever text its strings hold."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sottovoce.server.routes import websocket
from sottovoce.server.routes.messages import delivered
from sottovoce.storage.queue_records import QueuedMessage

ROW_ID = st.integers(1, 2**63 - 1)
TEXT = st.text()  # quotes, backslashes, control characters, non-ASCII, surrogates
DIGEST = st.none() | st.binary(min_size=1, max_size=64)


@given(
    id_=ROW_ID,
    message_id=TEXT,
    sender=TEXT,
    sender_device=st.integers(0, 2**31),
    type_=st.sampled_from(["message", "prekey", "sealed"]) | TEXT,
    body=st.binary(max_size=512),
    server_ts=st.integers(0, 2**53),
    commitment=DIGEST,
    franking_tag=DIGEST,
)
def test_an_envelope_frame_is_the_json_of_the_delivered_model(
    id_: int,
    message_id: str,
    sender: str,
    sender_device: int,
    type_: str,
    body: bytes,
    server_ts: int,
    commitment: bytes | None,
    franking_tag: bytes | None,
) -> None:
    message = QueuedMessage(
        id_, 7, sender, sender_device, message_id, type_, body, server_ts, commitment, franking_tag
    )
    expected = json.dumps({"type": "envelope", "envelope": delivered(message).model_dump()})
    frame = websocket._envelope_frame(message)
    assert frame == expected
    assert json.loads(frame)["envelope"]["message_id"] == message_id
