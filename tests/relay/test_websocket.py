"""GET /v1/ws on the real server: signed upgrade, backlog, live push, acks, redelivery."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.server import limits
from tests.relay.device import Device
from tests.support.api_device import signed_headers
from tests.support.live_server import LiveServer
from tests.support.waiting import eventually

WS_PATH = "/v1/ws"
FRAME_TIMEOUT_S = 10.0


def ws_url(server: LiveServer) -> str:
    return "ws" + server.url.removeprefix("http") + WS_PATH


def upgrade_header(device: Device, **kw: Any) -> dict[str, str]:
    headers = signed_headers(device.identity.signing_key, device.address, "GET", WS_PATH, b"", **kw)
    return {"authorization": headers["authorization"]}


@asynccontextmanager
async def connected(server: LiveServer, device: Device) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(
        ws_url(server), additional_headers=upgrade_header(device)
    ) as connection:
        yield connection


async def frame(connection: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(connection.recv(), FRAME_TIMEOUT_S)))


async def frames_until_empty(connection: ClientConnection) -> list[dict[str, Any]]:
    """The backlog: every envelope before ``queue_empty``."""
    envelopes = []
    while (current := await frame(connection))["type"] != "queue_empty":
        assert current["type"] == "envelope", current
        envelopes.append(current["envelope"])
    return envelopes


@pytest.fixture
async def pair(live_http: httpx.AsyncClient) -> tuple[Device, Device]:
    alice = await Device(live_http, "alice").register()
    bob = await Device(live_http, "bob", "photos").register()
    await bob.stock(limits.PREKEY_LOW_WATERMARK + 1)
    return alice, bob


async def refused(server: LiveServer, headers: dict[str, str]) -> tuple[int, str]:
    """The status and problem type with which the upgrade was refused."""
    with pytest.raises(InvalidStatus) as refusal:
        async with websockets.connect(ws_url(server), additional_headers=headers):
            pass
    response = refusal.value.response
    return response.status_code, json.loads(response.body or b"{}").get("type", "")


async def test_only_a_signed_upgrade_is_accepted(
    shared_server: LiveServer, pair: tuple[Device, Device]
) -> None:
    _, bob = pair
    assert await refused(shared_server, {}) == (401, "unauthenticated")
    impostor = IdentityKeyPair.generate()
    forged = signed_headers(impostor.signing_key, bob.address, "GET", WS_PATH, b"")
    assert await refused(shared_server, {"authorization": forged["authorization"]}) == (
        401,
        "bad-signature",
    )
    stale = upgrade_header(bob, timestamp_ms=int(time.time() * 1000) - 3_600_000)
    assert await refused(shared_server, stale) == (401, "stale-request")
    other_path = signed_headers(bob.identity.signing_key, bob.address, "GET", "/v1/messages", b"")
    assert await refused(shared_server, {"authorization": other_path["authorization"]}) == (
        401,
        "bad-signature",
    )
    once = upgrade_header(bob)
    async with websockets.connect(ws_url(shared_server), additional_headers=once) as connection:
        assert await frames_until_empty(connection) == []
    assert await refused(shared_server, once) == (401, "replayed-request")


async def test_backlog_then_queue_empty_then_live_messages(
    shared_server: LiveServer, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    for i in range(3):
        await alice.send(bob.address, f"queued-{i}")
    async with connected(shared_server, bob) as connection:
        backlog = await frames_until_empty(connection)
        assert [e["message_id"] for e in backlog] == ["queued-0", "queued-1", "queued-2"]
        assert set(backlog[0]) == {
            "id",
            "message_id",
            "sender",
            "sender_device",
            "type",
            "body",
            "server_ts",
            "commitment",
            "franking_tag",
        }
        assert (backlog[0]["sender"], backlog[0]["type"]) == (alice.address, "message")
        await alice.send(bob.address, "live")
        pushed = await frame(connection)
        assert (pushed["type"], pushed["envelope"]["message_id"]) == ("envelope", "live")
        assert pushed["envelope"]["id"] > backlog[-1]["id"]


async def test_acknowledged_messages_are_deleted_and_never_redelivered(
    shared_server: LiveServer, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    for i in range(3):
        await alice.send(bob.address, f"m{i}")
    async with connected(shared_server, bob) as connection:
        backlog = await frames_until_empty(connection)
        await connection.send(
            json.dumps({"type": "ack", "ids": [backlog[0]["id"], backlog[2]["id"]]})
        )

        async def only_m1_left() -> bool:
            return [m["message_id"] for m in (await bob.fetch())["messages"]] == ["m1"]

        await eventually(only_m1_left, FRAME_TIMEOUT_S)
    async with connected(shared_server, bob) as connection:
        assert [e["message_id"] for e in await frames_until_empty(connection)] == ["m1"]


async def test_unacknowledged_messages_are_redelivered_on_reconnect(
    shared_server: LiveServer, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "before")
    async with connected(shared_server, bob) as connection:
        first = await frames_until_empty(connection)
        await alice.send(bob.address, "while-connected")
        live = (await frame(connection))["envelope"]
    async with connected(shared_server, bob) as connection:
        again = await frames_until_empty(connection)
    assert [(e["id"], e["message_id"]) for e in again] == [
        (first[0]["id"], "before"),
        (live["id"], "while-connected"),
    ]
    assert again[0] == first[0]


async def test_prekeys_low_is_announced_when_a_claim_leaves_the_device_low(
    shared_server: LiveServer, live_http: httpx.AsyncClient, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    async with connected(shared_server, bob) as connection:
        assert await frames_until_empty(connection) == []
        # Frames are ordered: had prekeys_low been sent on connect, it would come first.
        await alice.send(bob.address, "marker")
        assert (await frame(connection))["envelope"]["message_id"] == "marker"
        assert (await alice.claim(bob.address)).status_code == 200  # 21 -> 20: not low
        assert (await alice.claim(bob.address)).status_code == 200  # 20 -> 19: low
        assert await frame(connection) == {"type": "prekeys_low"}


async def test_a_device_without_prekeys_hears_prekeys_low_on_connect(
    shared_server: LiveServer, live_http: httpx.AsyncClient
) -> None:
    empty = await Device(live_http, "empty").register()
    async with connected(shared_server, empty) as connection:
        assert await frame(connection) == {"type": "queue_empty"}
        assert await frame(connection) == {"type": "prekeys_low"}


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        '{"type": "ack"}',
        '{"type": "ack", "ids": "1"}',
        '{"type": "ack", "ids": [1.5]}',
        '{"type": "ack", "ids": [true]}',
        '{"type": "ack", "ids": [18446744073709551616]}',
        '{"type": "nack", "ids": [1]}',
    ],
)
async def test_malformed_frames_get_an_error_and_the_connection_lives_on(
    shared_server: LiveServer, pair: tuple[Device, Device], bad: str
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "survivor")
    async with connected(shared_server, bob) as connection:
        (queued,) = await frames_until_empty(connection)
        await connection.send(bad)
        error = await frame(connection)
        assert error["type"] == "error" and error["detail"]
        await connection.send(json.dumps({"type": "ack", "ids": [queued["id"]]}))

        async def emptied() -> bool:
            return not (await bob.fetch())["messages"]

        await eventually(emptied, FRAME_TIMEOUT_S)


async def test_an_ack_cannot_delete_another_devices_messages(
    shared_server: LiveServer, live_http: httpx.AsyncClient, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "for-bob")
    (queued,) = (await bob.fetch())["messages"]
    async with connected(shared_server, alice) as connection:
        assert await frames_until_empty(connection) == []
        await connection.send(json.dumps({"type": "ack", "ids": [queued["id"]]}))
        # A frame after the ack: once it is answered, the ack has been handled. The
        # queue_empty pass may still announce low prekeys before that answer.
        await connection.send("not json")
        while (answer := await frame(connection))["type"] in ("prekeys_low", "key_packages_low"):
            pass
        assert answer["type"] == "error"
    assert [m["message_id"] for m in (await bob.fetch())["messages"]] == ["for-bob"]
