"""``batch`` frames on the WebSocket (docs/api.md), against the real server process:
several sends in one frame, each answered under its own request id and stored in
the order it came; the server's frames that are ready together in one; the
bounds; and a client that does not offer the subprotocol keeps one frame each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from sottovoce.server import limits
from tests.support.device import MESSAGES, WEBSOCKET, BareDevice
from tests.support.live_server import LiveServer

FRAME_TIMEOUT_S = 10
BATCHES = Subprotocol("sottovoce.batches")
UNASKED = {"queue_empty", "prekeys_low", "key_packages_low"}


@pytest.fixture
async def http(live_server_module: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server_module.url, timeout=30) as client:
        yield client


def connect(server: LiveServer, device: BareDevice, *, batches: bool = True) -> Any:
    url = "ws" + server.url.removeprefix("http") + WEBSOCKET
    header = device.authorization("GET", WEBSOCKET, b"")
    return websockets.connect(
        url,
        additional_headers={"authorization": header},
        subprotocols=[BATCHES] if batches else None,
    )


class Frames:
    """What the server sent on one socket: WebSocket messages, and their frames
    with batches taken apart."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._frames: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any]:
        while not self._frames:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), FRAME_TIMEOUT_S))
            self.messages.append(message)
            if message["type"] == "batch":
                assert len(message["frames"]) >= 2, "a lone frame comes as it is"
                self._frames.extend(message["frames"])
            else:
                self._frames.append(message)
        return self._frames.pop(0)

    async def answers(self, count: int) -> dict[int | None, dict[str, Any]]:
        """The next ``count`` answers by request id."""
        got: dict[int | None, dict[str, Any]] = {}
        while len(got) < count:
            frame = await self.next()
            if frame["type"] not in UNASKED:
                got[frame.get("request_id")] = frame
        return got

    async def envelopes(self, count: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while len(got) < count:
            frame = await self.next()
            if frame["type"] == "envelope":
                got.append(frame["envelope"])
        return got

    async def until(self, kind: str) -> None:
        while (await self.next())["type"] != kind:
            pass


def send(request_id: int, message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "send", "request_id": request_id, "message": message}


def batch(*frames: object) -> str:
    return json.dumps({"type": "batch", "frames": list(frames)})


async def queued(http: httpx.AsyncClient, device: BareDevice) -> list[str]:
    page = (await device.call(http, "GET", f"{MESSAGES}?limit={limits.MAX_FETCH}")).json()
    return [m["message_id"] for m in page["messages"]]


async def pair(http: httpx.AsyncClient) -> tuple[BareDevice, BareDevice]:
    return await BareDevice().register(http), await BareDevice().register(http)


async def test_a_batch_of_sends_is_answered_per_send_stored_and_delivered_in_order(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    bodies = [BareDevice.send_body(bob.address) for _ in range(10)]
    async with connect(live_server_module, bob) as bob_ws, connect(live_server_module, alice) as ws:
        assert ws.subprotocol == BATCHES and bob_ws.subprotocol == BATCHES
        received = Frames(bob_ws)
        await received.until("queue_empty")
        await ws.send(batch(*(send(i, body) for i, body in enumerate(bodies, 1))))
        answers = await Frames(ws).answers(len(bodies))
        for i, body in enumerate(bodies, 1):
            assert answers[i] == {
                "type": "sent",
                "request_id": i,
                "result": {"message_id": body["message_id"], "stored": 1, "duplicate": False},
            }
        delivered = await received.envelopes(len(bodies))
        assert [e["message_id"] for e in delivered] == [b["message_id"] for b in bodies]
        ids = [e["id"] for e in delivered]
        assert ids == sorted(ids)
        # One ack frame for all of them, inside a batch like any other frame.
        await bob_ws.send(batch({"type": "ack", "ids": ids}, "not a frame"))
        assert (await received.next())["type"] == "error"  # after the ack was applied
    assert await queued(http, bob) == []


async def test_the_backlog_comes_in_batches_and_queue_empty_with_it(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    bodies = [BareDevice.send_body(bob.address) for _ in range(5)]
    for body in bodies:
        assert (await alice.call(http, "POST", MESSAGES, body)).status_code == 200
    async with connect(live_server_module, bob) as bob_ws:
        received = Frames(bob_ws)
        delivered = await received.envelopes(len(bodies))
        await received.until("queue_empty")
    assert [e["message_id"] for e in delivered] == [b["message_id"] for b in bodies]
    assert len(received.messages) == 1  # the read and its queue_empty: one message
    assert received.messages[0]["type"] == "batch"


async def test_a_refused_send_in_the_middle_of_a_batch_leaves_the_others_in_order(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    first, last = BareDevice.send_body(bob.address), BareDevice.send_body(bob.address)
    stale = BareDevice.send_body(bob.address, device_ids=(2,))
    async with connect(live_server_module, alice) as ws:
        await ws.send(
            batch(
                send(1, first),
                send(2, stale),
                {"type": "send", "request_id": 3, "message": {"recipient": bob.address}},
                {"type": "send", "request_id": "four", "message": first},
                send(5, first),  # a retry of the first, in the same batch
                send(6, last),
            )
        )
        answers = await Frames(ws).answers(6)
    assert answers[1]["type"] == "sent" and answers[1]["result"]["duplicate"] is False
    assert answers[2]["status"] == 409 and answers[2]["kind"] == "stale-devices"
    assert answers[2]["extra"] == [2] and answers[2]["missing"] == [1]
    assert answers[3]["status"] == 422 and answers[3]["kind"] == "malformed-body"
    assert answers[None]["status"] == 400 and answers[None]["kind"] == "malformed-frame"
    assert answers[5]["type"] == "sent" and answers[5]["result"]["duplicate"] is True
    assert answers[6]["type"] == "sent" and answers[6]["result"]["stored"] == 1
    assert await queued(http, bob) == [first["message_id"], last["message_id"]]


async def test_a_batch_over_the_bound_is_refused_whole_with_an_answer_per_send(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    count = limits.MAX_FRAMES_PER_BATCH + 1
    async with connect(live_server_module, alice) as ws:
        frames = Frames(ws)
        await ws.send(batch(*(send(i, BareDevice.send_body(bob.address)) for i in range(count))))
        answers = await frames.answers(count)
        assert {a["kind"] for a in answers.values()} == {"batch-too-large"}
        assert {a["status"] for a in answers.values()} == {413}
        # The socket keeps serving.
        body = BareDevice.send_body(bob.address)
        await ws.send(batch(send(1, body)))
        assert (await frames.answers(1))[1]["type"] == "sent"
    assert await queued(http, bob) == [body["message_id"]]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (json.dumps({"type": "batch"}), "error"),
        (json.dumps({"type": "batch", "frames": []}), "error"),
        (json.dumps({"type": "batch", "frames": {"type": "ack", "ids": [1]}}), "error"),
        (batch({"type": "batch", "frames": [{"type": "ack", "ids": [1]}]}), "error"),
        (batch({"type": "ack", "ids": ["one"]}), "error"),
    ],
)
async def test_a_malformed_batch_gets_an_error_and_the_socket_keeps_serving(
    live_server_module: LiveServer, http: httpx.AsyncClient, text: str, kind: str
) -> None:
    alice, bob = await pair(http)
    async with connect(live_server_module, alice) as ws:
        frames = Frames(ws)
        await ws.send(text)
        error = await frames.answers(1)
        assert error[None]["type"] == kind and error[None]["detail"]
        await ws.send(batch(send(9, BareDevice.send_body(bob.address))))
        assert (await frames.answers(1))[9]["type"] == "sent"


async def test_an_oversized_batch_is_a_413_problem(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    body = BareDevice.send_body(bob.address)
    body["envelopes"][0]["body"] = "A" * (limits.MAX_CLIENT_FRAME_BYTES // 2)
    async with connect(live_server_module, alice) as ws:
        frames = Frames(ws)
        await ws.send(batch(send(1, body), send(2, body)))
        problem = (await frames.answers(1))[None]
        assert problem["status"] == 413 and problem["kind"] == "frame-too-large"
    assert await queued(http, bob) == []


async def test_without_the_subprotocol_every_frame_comes_alone(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    bodies = [BareDevice.send_body(bob.address) for _ in range(4)]
    for body in bodies:
        assert (await alice.call(http, "POST", MESSAGES, body)).status_code == 200
    async with connect(live_server_module, bob, batches=False) as bob_ws:
        assert bob_ws.subprotocol is None
        received = Frames(bob_ws)
        delivered = await received.envelopes(len(bodies))
        await received.until("queue_empty")
    assert [e["message_id"] for e in delivered] == [b["message_id"] for b in bodies]
    assert [m["type"] for m in received.messages] == ["envelope"] * 4 + ["queue_empty"]
