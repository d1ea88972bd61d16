"""The SDK's live connection batches its frames (client.live_connection, docs/api.md
"Batches"): sends made in the same loop turn go as one ``batch`` frame, each with
its own answer, and the envelopes of one server batch are acknowledged in one
``ack``; nothing waits on a timer."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ServerError
from sottovoce.client.live_connection import BATCHES, LiveConnection
from tests.sdk.conftest import MakeClient
from tests.support.device import BareDevice
from tests.support.waiting import eventually, take


def recorded(live: LiveConnection) -> list[dict[str, Any]]:
    """Every WebSocket message ``live`` writes from now on, parsed."""
    written: list[dict[str, Any]] = []
    connection = live._connection
    send = connection.send

    async def recording(text: Any) -> None:
        written.append(json.loads(text))
        await send(text)

    connection.send = recording  # type: ignore[method-assign]
    return written


async def test_sends_of_one_loop_turn_go_as_one_batch_each_answered(
    make_client: MakeClient,
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    live = await alice._transport.connect_websocket()
    try:
        assert live._connection.subprotocol == BATCHES
        written = recorded(live)
        bodies = [BareDevice.send_body(bob.address) for _ in range(5)]
        bodies.insert(2, BareDevice.send_body(bob.address, device_ids=(7,)))  # stale
        outcomes = await asyncio.gather(
            *(live.send_message(body) for body in bodies), return_exceptions=True
        )
    finally:
        await live.close()
    assert len(written) == 1 and written[0]["type"] == "batch"
    assert [f["request_id"] for f in written[0]["frames"]] == list(range(1, 7))
    for body, outcome in zip(bodies, outcomes, strict=True):
        if body is bodies[2]:
            assert isinstance(outcome, ServerError) and outcome.status == 409
        else:
            assert outcome == {"message_id": body["message_id"], "stored": 1, "duplicate": False}


async def test_a_backlog_is_acknowledged_in_one_frame(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    sent = [f"backlog {i}" for i in range(4)]
    for text in sent:
        await alice.send(bob.address, text)
    connect = bob._transport.connect_websocket
    recordings: list[list[dict[str, Any]]] = []

    async def connect_recorded() -> LiveConnection:
        live = await connect()
        recordings.append(recorded(live))
        return live

    monkeypatch.setattr(bob._transport, "connect_websocket", connect_recorded)
    async with aclosing(bob.listen()) as stream:
        received = await take(stream, len(sent))
    assert [m.text for m in received] == sent
    frames = [f for m in recordings[0] for f in (m["frames"] if m["type"] == "batch" else [m])]
    acks = [f for f in frames if f["type"] == "ack"]
    assert len(acks) == 1 and len(acks[0]["ids"]) == len(sent)
    await eventually(lambda: queued_count(bob, 0))


async def queued_count(client: Client, expected: int) -> bool:
    page = await client._transport.request("GET", "/v1/messages?limit=500")
    return len(page["messages"]) == expected
