"""Live delivery over the real server's WebSocket: backlog, push, ack, redelivery."""

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

from sottovoce.crypto.signing import SigningKey
from sottovoce.server.limits import (
    MAX_CLIENT_FRAME_BYTES,
    MAX_WEBSOCKET_MESSAGE_BYTES,
    PREKEY_LOW_WATERMARK,
)
from tests.support.device import CLAIM, MESSAGES, PREKEYS, WEBSOCKET, BareDevice
from tests.support.live_server import LiveServer

FRAME_TIMEOUT_S = 10


@pytest.fixture
async def http(live_server_module: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server_module.url, timeout=30) as client:
        yield client


def ws_url(server: LiveServer) -> str:
    return "ws" + server.url.removeprefix("http") + WEBSOCKET


def connect(server: LiveServer, device: BareDevice, **signing: Any) -> Any:
    header = device.authorization("GET", WEBSOCKET, b"", **signing)
    return websockets.connect(ws_url(server), additional_headers={"authorization": header})


async def frame(ws: ClientConnection) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
    return decoded


async def send(http: httpx.AsyncClient, sender: BareDevice, recipient: BareDevice) -> str:
    body = BareDevice.send_body(recipient.address)
    response = await sender.call(http, "POST", MESSAGES, body)
    assert response.status_code == 200, response.text
    return str(body["message_id"])


async def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Frames up to and including the first of ``kind``."""
    frames = [await frame(ws)]
    while frames[-1]["type"] != kind:
        frames.append(await frame(ws))
    return frames


async def test_backlog_then_live_push_then_ack(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice = await BareDevice().register(http)
    bob = await BareDevice().register(http)
    await bob.call(http, "PUT", PREKEYS, bob.prekeys(PREKEY_LOW_WATERMARK, PREKEY_LOW_WATERMARK))
    queued = [await send(http, alice, bob) for _ in range(2)]

    async with connect(live_server_module, bob) as ws:
        frames = await until(ws, "queue_empty")
        envelopes = [f["envelope"] for f in frames[:-1]]
        assert [e["message_id"] for e in envelopes] == queued
        assert all(f["type"] == "envelope" for f in frames[:-1])
        assert envelopes[0]["sender"] == alice.address

        live = await send(http, alice, bob)
        pushed = await frame(ws)
        assert pushed["type"] == "envelope" and pushed["envelope"]["message_id"] == live

        ids = [e["id"] for e in envelopes] + [pushed["envelope"]["id"]]
        await ws.send(json.dumps({"type": "ack", "ids": ids[:2]}))
        # The ack is applied asynchronously; poll the queue over HTTP.
        for _ in range(50):
            page = (await bob.call(http, "GET", MESSAGES)).json()
            if len(page["messages"]) == 1:
                break
            await asyncio.sleep(0.05)
        assert [m["message_id"] for m in page["messages"]] == [live]

    # The unacknowledged message comes again on the next connection, and only it.
    async with connect(live_server_module, bob) as ws:
        frames = await until(ws, "queue_empty")
        assert [f["envelope"]["message_id"] for f in frames[:-1]] == [live]


async def test_a_claim_that_leaves_the_device_low_is_announced(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice = await BareDevice().register(http)
    bob = await BareDevice().register(http)
    enough = bob.prekeys(PREKEY_LOW_WATERMARK, PREKEY_LOW_WATERMARK)
    await bob.call(http, "PUT", PREKEYS, enough)
    async with connect(live_server_module, bob) as ws:
        assert (await frame(ws))["type"] == "queue_empty"
        await alice.call(http, "POST", CLAIM, {"address": bob.address})
        assert (await frame(ws))["type"] == "prekeys_low"


async def test_a_device_that_is_already_low_hears_so_on_connect(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    bob = await BareDevice().register(http)
    async with connect(live_server_module, bob) as ws:
        assert [f["type"] for f in await until(ws, "prekeys_low")] == [
            "queue_empty",
            "prekeys_low",
        ]


async def test_a_malformed_frame_is_answered_and_the_connection_stays(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    alice = await BareDevice().register(http)
    bob = await BareDevice().register(http)
    async with connect(live_server_module, bob) as ws:
        await until(ws, "prekeys_low")
        for bad in ["not json", "[]", '{"type": "ack", "ids": ["1"]}', '{"type": "ack"}']:
            await ws.send(bad)
            reply = await frame(ws)
            assert reply["type"] == "error" and "ack" in reply["detail"]
        message_id = await send(http, alice, bob)
        assert (await frame(ws))["envelope"]["message_id"] == message_id


@pytest.mark.parametrize("fault", ["no header", "forged", "stale", "unknown device"])
async def test_a_refused_upgrade_is_a_401_problem(
    live_server_module: LiveServer, http: httpx.AsyncClient, fault: str
) -> None:
    bob = await BareDevice().register(http)
    url = ws_url(live_server_module)
    headers = {
        "no header": {},
        "forged": {
            "authorization": bob.authorization("GET", WEBSOCKET, b"", signer=SigningKey.generate())
        },
        "stale": {"authorization": bob.authorization("GET", WEBSOCKET, b"", timestamp_ms=1)},
        "unknown device": {"authorization": BareDevice().authorization("GET", WEBSOCKET, b"")},
    }[fault]
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers=headers):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["status"] == 401


async def test_a_replayed_upgrade_is_refused(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    bob = await BareDevice().register(http)
    header = {"authorization": bob.authorization("GET", WEBSOCKET, b"")}
    async with websockets.connect(ws_url(live_server_module), additional_headers=header):
        pass
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(ws_url(live_server_module), additional_headers=header):
            pass
    assert json.loads(refused.value.response.body)["type"] == "replayed-request"


async def test_an_oversized_client_frame_is_a_413_problem_and_the_connection_stays(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    bob = await BareDevice().register(http)
    async with connect(live_server_module, bob) as ws:
        await until(ws, "prekeys_low")
        await ws.send(" " * (MAX_CLIENT_FRAME_BYTES + 1))
        problem = await frame(ws)
        assert (problem["type"], problem["status"]) == ("problem", 413)
        await ws.send("not json")
        assert (await frame(ws))["type"] == "error"


async def test_a_frame_beyond_the_transport_bound_closes_the_connection(
    live_server_module: LiveServer, http: httpx.AsyncClient
) -> None:
    bob = await BareDevice().register(http)
    async with connect(live_server_module, bob) as ws:
        await until(ws, "prekeys_low")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send(" " * (MAX_WEBSOCKET_MESSAGE_BYTES + 1))
            await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
