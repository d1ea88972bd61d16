"""Two real nodes on one PostgreSQL database and one Redis (docs/operations.md):
cross-node delivery, the Redis-down fallback, the shared replay cache, send
receipts after acknowledgement, fetch cursors and ``/metrics``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from sottovoce.server import shared_limits
from sottovoce.server.process import ServerProcess
from tests.support.device import ACK, MESSAGES, WEBSOCKET, BareDevice
from tests.support.nodes import two_nodes
from tests.support.services import PostgresCluster, RedisServer

FRAME_TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def nodes(
    running_services: tuple[PostgresCluster, RedisServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with two_nodes(*running_services, tmp_path_factory.mktemp("cluster")) as pair:
        yield pair


@pytest.fixture
async def http_a(nodes: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nodes[0].url, timeout=30) as http:
        yield http


@pytest.fixture
async def http_b(nodes: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nodes[1].url, timeout=30) as http:
        yield http


def connect(node: ServerProcess, device: BareDevice) -> Any:
    header = device.authorization("GET", WEBSOCKET, b"")
    url = "ws" + node.url.removeprefix("http") + WEBSOCKET
    return websockets.connect(url, additional_headers={"authorization": header})


async def next_envelope(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
        if frame["type"] == "envelope":
            envelope: dict[str, Any] = frame["envelope"]
            return envelope


async def send(http: httpx.AsyncClient, sender: BareDevice, to: BareDevice) -> dict[str, Any]:
    body = BareDevice.send_body(to.address)
    response = await sender.call(http, "POST", MESSAGES, body)
    assert response.status_code == 200, response.text
    return body


async def pair(http: httpx.AsyncClient, other: httpx.AsyncClient) -> tuple[BareDevice, BareDevice]:
    """One account made on each node, at once (both append to the one log)."""
    alice, bob = await asyncio.gather(
        BareDevice().register(http), BareDevice(app="photos").register(other)
    )
    return alice, bob


async def test_a_message_sent_through_node_b_reaches_a_device_on_node_a(
    nodes: tuple[ServerProcess, ServerProcess], http_a: httpx.AsyncClient, http_b: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http_a, http_b)
    async with connect(nodes[0], bob) as ws:
        for _ in range(3):
            body = await send(http_b, alice, bob)
            envelope = await next_envelope(ws)
            assert envelope["message_id"] == body["message_id"]
            await ws.send(json.dumps({"type": "ack", "ids": [envelope["id"]]}))
    metrics = (await http_a.get("/metrics")).text
    assert "sottovoce_redis_connected 1.0" in metrics


async def test_with_redis_down_delivery_polls_and_recovers(
    nodes: tuple[ServerProcess, ServerProcess],
    running_services: tuple[PostgresCluster, RedisServer],
    http_a: httpx.AsyncClient,
    http_b: httpx.AsyncClient,
) -> None:
    _, redis = running_services
    alice, bob = await pair(http_a, http_b)
    async with connect(nodes[0], bob) as ws:
        redis.stop()
        try:
            body = await send(http_b, alice, bob)  # node B cannot publish
            assert (await next_envelope(ws))["message_id"] == body["message_id"]
            assert "sottovoce_redis_connected 0.0" in (await http_a.get("/metrics")).text
        finally:
            redis.start()
        for _ in range(100):
            if "sottovoce_redis_connected 1.0" in (await http_a.get("/metrics")).text:
                break
            await asyncio.sleep(0.1)
        body = await send(http_b, alice, bob)
        assert (await next_envelope(ws))["message_id"] == body["message_id"]


async def test_a_request_replayed_to_another_node_is_refused(
    http_a: httpx.AsyncClient, http_b: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http_a, http_b)
    # A node that just failed to reach Redis (another test stops it) answers from
    # its memory alone for RETRY_AFTER_S; past that it asks Redis again.
    await asyncio.sleep(shared_limits.RETRY_AFTER_S + 0.2)
    request = alice.build(http_a, "POST", MESSAGES, BareDevice.send_body(bob.address))
    assert (await http_a.send(request)).status_code == 200
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    replay = http_b.build_request("POST", MESSAGES, content=request.content, headers=headers)
    answer = await http_b.send(replay)
    assert answer.status_code == 401 and answer.json()["type"] == "replayed-request"


async def test_a_retry_after_acknowledgement_is_not_stored_again(
    http_a: httpx.AsyncClient, http_b: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http_a, http_b)
    body = await send(http_a, alice, bob)
    page = (await bob.call(http_b, "GET", MESSAGES)).json()
    assert [m["message_id"] for m in page["messages"]] == [body["message_id"]]
    await bob.call(http_b, "POST", ACK, {"ids": [page["messages"][0]["id"]]})
    retry = await alice.call(http_b, "POST", MESSAGES, body)  # the same message id, late
    assert retry.json()["duplicate"] is True
    assert (await bob.call(http_a, "GET", MESSAGES)).json()["messages"] == []


async def test_a_cursor_pages_through_the_queue_without_acknowledging(
    http_a: httpx.AsyncClient, http_b: httpx.AsyncClient
) -> None:
    alice, bob = await pair(http_a, http_b)
    sent = [(await send(http_a, alice, bob))["message_id"] for _ in range(5)]
    seen: list[str] = []
    path = f"{MESSAGES}?limit=2"
    while True:
        page = (await bob.call(http_a, "GET", path)).json()
        seen += [m["message_id"] for m in page["messages"]]
        if not page["more"]:
            assert page["cursor"] is None
            break
        path = f"{MESSAGES}?limit=2&after={page['cursor']}"
    assert seen == sent
    again = (await bob.call(http_a, "GET", MESSAGES)).json()  # nothing was acknowledged
    assert [m["message_id"] for m in again["messages"]] == sent


async def test_metrics_count_what_the_node_did(
    nodes: tuple[ServerProcess, ServerProcess],
    http_a: httpx.AsyncClient,
    http_b: httpx.AsyncClient,
) -> None:
    alice, bob = await pair(http_a, http_b)
    await send(http_a, alice, bob)
    text = (await http_a.get("/metrics")).text
    for name in (
        "sottovoce_messages_accepted_total",
        "sottovoce_messages_delivered_total",
        "sottovoce_websocket_connections",
        "sottovoce_queued_messages",
        "sottovoce_queue_depth_max",
        "sottovoce_send_seconds_bucket",
        "sottovoce_delivery_seconds_bucket",
    ):
        assert name in text, name
    accepted = next(
        float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("sottovoce_messages_accepted_total")
    )
    assert accepted >= 1
    assert bob.handle not in text and alice.handle not in text
