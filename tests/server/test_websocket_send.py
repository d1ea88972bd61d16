"""Sending over the authenticated WebSocket (docs/api.md, "send" frames), against the
real server process: the checks of POST /v1/messages, answers by request id, order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sottovoce.server import limits
from sottovoce.server.auth import now_ms
from sottovoce.storage.queue_records import Envelope
from sottovoce.storage.repository import Repository
from tests.support.device import ACK, MESSAGES, WEBSOCKET, BareDevice
from tests.support.live_server import LiveServer
from tests.support.server_db import server_url

FRAME_TIMEOUT_S = 10
# Frames the server pushes on its own, between the answers a test waits for.
UNASKED = {"queue_empty", "prekeys_low", "key_packages_low"}


@pytest.fixture
async def http(live_server_module: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server_module.url, timeout=30) as client:
        yield client


def connect(server: LiveServer, device: BareDevice) -> Any:
    url = "ws" + server.url.removeprefix("http") + WEBSOCKET
    header = device.authorization("GET", WEBSOCKET, b"")
    return websockets.connect(url, additional_headers={"authorization": header})


async def frame(ws: ClientConnection) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
    return decoded


async def answer(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that answers something the test sent."""
    while (got := await frame(ws))["type"] in UNASKED:
        pass
    return got


async def envelope(ws: ClientConnection) -> dict[str, Any]:
    while (got := await frame(ws))["type"] != "envelope":
        pass
    return dict(got["envelope"])


def send_frame(request_id: int, message: dict[str, Any]) -> str:
    return json.dumps({"type": "send", "request_id": request_id, "message": message})


async def queued(http: httpx.AsyncClient, device: BareDevice) -> list[str]:
    page = (await device.call(http, "GET", f"{MESSAGES}?limit={limits.MAX_FETCH}")).json()
    return [m["message_id"] for m in page["messages"]]


async def pair(http: httpx.AsyncClient) -> tuple[BareDevice, BareDevice]:
    return await BareDevice().register(http), await BareDevice().register(http)


async def test_a_send_frame_is_stored_answered_and_delivered_live(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    async with connect(live_server_module, bob) as bob_ws, connect(live_server_module, alice) as ws:
        assert (await frame(bob_ws))["type"] == "queue_empty"
        body = BareDevice.send_body(bob.address)
        await ws.send(send_frame(7, body))
        assert await answer(ws) == {
            "type": "sent",
            "request_id": 7,
            "result": {"message_id": body["message_id"], "stored": 1, "duplicate": False},
        }
        delivered = await envelope(bob_ws)
        assert delivered["message_id"] == body["message_id"]
        assert delivered["sender"] == alice.address
        assert delivered["body"] == body["envelopes"][0]["body"]
        await bob_ws.send(json.dumps({"type": "ack", "ids": [delivered["id"]]}))
        await bob_ws.send("not json")  # answered only once the ack was applied
        assert (await answer(bob_ws))["type"] == "error"
    assert await queued(http, bob) == []


async def test_a_retried_send_is_answered_as_a_duplicate_and_stored_once(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    body = BareDevice.send_body(bob.address)
    async with connect(live_server_module, alice) as ws:
        await ws.send(send_frame(1, body))
        assert (await answer(ws))["result"]["duplicate"] is False
        await ws.send(send_frame(2, body))
        assert await answer(ws) == {
            "type": "sent",
            "request_id": 2,
            "result": {"message_id": body["message_id"], "stored": 0, "duplicate": True},
        }
    # The HTTP route and the socket share one idempotency key.
    again = await alice.call(http, "POST", MESSAGES, body)
    assert again.json()["duplicate"] is True
    assert await queued(http, bob) == [body["message_id"]]


async def test_stale_devices_are_a_409_problem_frame_with_the_lists(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    async with connect(live_server_module, alice) as ws:
        await ws.send(send_frame(3, BareDevice.send_body(bob.address, device_ids=(2,))))
        problem = await answer(ws)
    assert problem["type"] == "problem" and problem["request_id"] == 3
    assert problem["status"] == 409 and problem["kind"] == "stale-devices"
    assert problem["missing"] == [1] and problem["extra"] == [2]
    assert problem["own_missing"] == [] and problem["own_extra"] == []
    assert bob.address in problem["detail"]
    assert await queued(http, bob) == []


async def test_an_unknown_recipient_and_too_many_envelopes_are_the_http_problems(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    crowded = BareDevice.send_body(
        bob.address, device_ids=tuple(range(1, limits.MAX_ENVELOPES_PER_MESSAGE + 2))
    )
    async with connect(live_server_module, alice) as ws:
        await ws.send(send_frame(1, BareDevice.send_body("nobody-here@chat")))
        unknown = await answer(ws)
        await ws.send(send_frame(2, crowded))
        too_many = await answer(ws)
    assert (unknown["status"], unknown["kind"]) == (404, "unknown-account")
    assert (too_many["status"], too_many["kind"]) == (413, "too-many-envelopes")


@pytest.mark.parametrize(
    ("raw", "status", "kind", "request_id"),
    [
        ('{"type": "send"}', 400, "malformed-frame", None),
        ('{"type": "send", "request_id": "1", "message": {}}', 400, "malformed-frame", None),
        ('{"type": "send", "request_id": true, "message": {}}', 400, "malformed-frame", None),
        ('{"type": "send", "request_id": 5}', 422, "malformed-body", 5),
        ('{"type": "send", "request_id": 6, "message": []}', 422, "malformed-body", 6),
        (
            '{"type": "send", "request_id": 8, "message": {"message_id": "a b", '
            '"recipient": "x@chat", "envelopes": [{"device_id": 1, "type": "message", '
            '"body": "AA=="}]}}',
            422,
            "malformed-body",
            8,
        ),
    ],
)
async def test_a_malformed_send_frame_gets_a_problem_and_the_socket_keeps_serving(
    live_server_module: LiveServer,
    http: httpx.AsyncClient,
    raw: str,
    status: int,
    kind: str,
    request_id: int | None,
) -> None:
    alice, bob = await pair(http)
    async with connect(live_server_module, alice) as ws:
        await ws.send(raw)
        problem = await answer(ws)
        assert problem["type"] == "problem" and problem["detail"]
        assert (problem["status"], problem["kind"], problem["request_id"]) == (
            status,
            kind,
            request_id,
        )
        body = BareDevice.send_body(bob.address)
        await ws.send(send_frame(9, body))
        assert (await answer(ws))["result"]["stored"] == 1
    assert await queued(http, bob) == [body["message_id"]]


async def test_a_bad_envelope_body_names_the_field(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    body = BareDevice.send_body(bob.address)
    body["envelopes"][0]["body"] = "not base64!"
    async with connect(live_server_module, alice) as ws:
        await ws.send(send_frame(1, body))
        problem = await answer(ws)
    assert problem["status"] == 400 and "envelopes[0].body" in problem["detail"]


async def test_an_oversized_frame_gets_a_413_problem_and_the_socket_keeps_serving(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    huge = BareDevice.send_body(bob.address, body=b"\x00" * (limits.MAX_CLIENT_FRAME_BYTES))
    async with connect(live_server_module, alice) as ws:
        await ws.send(send_frame(1, huge))
        problem = await answer(ws)
        assert (problem["status"], problem["kind"]) == (413, "frame-too-large")
        await ws.send(b"\x01binary")
        assert (await answer(ws))["type"] == "error"
        body = BareDevice.send_body(bob.address)
        await ws.send(send_frame(2, body))
        assert (await answer(ws))["request_id"] == 2
    assert await queued(http, bob) == [body["message_id"]]


async def test_without_an_authenticated_upgrade_there_is_no_socket_to_send_on(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    _, bob = await pair(http)
    url = "ws" + live_server_module.url.removeprefix("http") + WEBSOCKET
    forger = BareDevice(handle=bob.handle)  # bob's address, another key
    for headers in ({}, {"authorization": forger.authorization("GET", WEBSOCKET, b"")}):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, additional_headers=headers) as ws:
                await ws.send(send_frame(1, BareDevice.send_body(bob.address)))
        assert refused.value.response.status_code == 401
    assert await queued(http, bob) == []


async def test_a_suspended_account_cannot_send_on_its_open_socket(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    pest, bob = await pair(http)
    async with connect(live_server_module, pest) as ws:
        await ws.send(send_frame(1, BareDevice.send_body(bob.address)))
        assert (await answer(ws))["type"] == "sent"
        for _ in range(limits.SUSPEND_AFTER_REPORTERS):
            reporter = await BareDevice().register(http)
            await reporter.call(http, "PUT", f"/v1/blocks/{pest.address}")
        late = BareDevice.send_body(bob.address)
        try:
            await ws.send(send_frame(2, late))
            refused = await answer(ws)
        except ConnectionClosed as closed:  # the suspension closed the socket first
            assert closed.rcvd is not None and closed.rcvd.code == 4403
        else:
            assert (refused["status"], refused["kind"]) == (403, "account-suspended")
    assert late["message_id"] not in await queued(http, bob)


async def test_pipelined_sends_are_stored_and_delivered_in_order(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    count = 3 * limits.MAX_PIPELINED_SENDS
    bodies = [BareDevice.send_body(bob.address) for _ in range(count)]
    bodies[5]["envelopes"][0]["device_id"] = 2  # one refused in the middle
    async with connect(live_server_module, bob) as bob_ws, connect(live_server_module, alice) as ws:
        assert (await frame(bob_ws))["type"] == "queue_empty"
        await asyncio.gather(*(ws.send(send_frame(i, b)) for i, b in enumerate(bodies)))
        answers = {a["request_id"]: a for a in [await answer(ws) for _ in range(count)]}
        assert sorted(answers) == list(range(count))
        assert answers[5]["kind"] == "stale-devices"
        assert all(answers[i]["type"] == "sent" for i in range(count) if i != 5)
        expected = [b["message_id"] for i, b in enumerate(bodies) if i != 5]
        live = [(await envelope(bob_ws))["message_id"] for _ in expected]
    assert live == expected
    assert await queued(http, bob) == expected


async def test_http_and_socket_sends_reach_a_parked_socket_once_each(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http)
    async with connect(live_server_module, bob) as bob_ws:
        assert (await frame(bob_ws))["type"] == "queue_empty"
        sent = []
        for _ in range(5):
            body = BareDevice.send_body(bob.address)
            assert (await alice.call(http, "POST", MESSAGES, body)).status_code == 200
            sent.append(body["message_id"])
        got = [await envelope(bob_ws) for _ in sent]
        assert [e["message_id"] for e in got] == sent
        await bob.call(http, "POST", ACK, {"ids": [e["id"] for e in got]})
        body = BareDevice.send_body(bob.address)
        await alice.call(http, "POST", MESSAGES, body)
        assert (await envelope(bob_ws))["message_id"] == body["message_id"]
        with pytest.raises(TimeoutError):  # nothing is sent twice
            await asyncio.wait_for(envelope(bob_ws), 1.0)


async def test_many_pipelining_senders_reach_an_acking_receiver_once_each_in_order(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    """Pushes, queue reads and acks interleave; still every copy arrives exactly
    once, and each sender's in the order it sent them."""
    bob = await BareDevice().register(http)
    senders = [await BareDevice().register(http) for _ in range(5)]
    per_sender = 40
    bodies = {
        s.address: [BareDevice.send_body(bob.address) for _ in range(per_sender)] for s in senders
    }

    async def send_all(sender: BareDevice) -> None:
        async with connect(live_server_module, sender) as ws:
            for i, body in enumerate(bodies[sender.address]):
                await ws.send(send_frame(i, body))
            answers = [await answer(ws) for _ in range(per_sender)]
        assert all(a["type"] == "sent" for a in answers)

    async with connect(live_server_module, bob) as bob_ws:
        assert (await frame(bob_ws))["type"] == "queue_empty"
        sending = asyncio.gather(*(send_all(s) for s in senders))
        got: dict[str, list[str]] = {s.address: [] for s in senders}
        for _ in range(len(senders) * per_sender):
            delivered = await envelope(bob_ws)
            got[delivered["sender"]].append(delivered["message_id"])
            await bob_ws.send(json.dumps({"type": "ack", "ids": [delivered["id"]]}))
        await sending
        with pytest.raises(TimeoutError):  # and nothing more
            await asyncio.wait_for(envelope(bob_ws), 1.0)
    assert got == {a: [b["message_id"] for b in sent] for a, sent in bodies.items()}


async def test_a_retry_answered_as_one_wakes_the_recipients_stream(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    """Copies stored by an attempt that woke nobody (its node stopped between the
    commit and the wake-ups) reach the recipient's parked stream when the sender
    retries, not at the stream's recheck a minute later (server.live)."""
    alice, bob = await pair(http)
    body = BareDevice.send_body(bob.address)
    # The first attempt, stored through a connection of its own, as on a node
    # that then died: the rows are queued and no stream was told.
    other_node = Repository.connect(server_url(live_server_module))
    try:
        sender = await other_node.device(alice.app, alice.handle, 1)
        recipient = await other_node.device(bob.app, bob.handle, 1)
        assert sender is not None and recipient is not None
        async with connect(live_server_module, bob) as bob_ws:
            assert (await frame(bob_ws))["type"] == "queue_empty"
            stored = await other_node.enqueue(
                sender=sender,
                message_id=body["message_id"],
                envelopes=[Envelope(recipient.pk, "message", b"\x01ciphertext")],
                server_ts=now_ms(),
                max_queue_depth=limits.MAX_QUEUE_DEPTH,
            )
            assert stored is not None
            retry = await alice.call(http, "POST", MESSAGES, body)
            assert retry.status_code == 200, retry.text
            assert retry.json()["duplicate"] is True
            got = await envelope(bob_ws)
            assert got["message_id"] == body["message_id"]
    finally:
        await other_node.close()
