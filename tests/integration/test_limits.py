"""Per-device rate limits and queue depth, on an in-process app with small limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sottovoce.server.settings import Limits
from tests.support.api_device import ApiDevice, b64
from tests.support.in_process import relay_settings, running


class Device(ApiDevice):
    """An ApiDevice bound to one in-process client, with the calls these tests make."""

    def __init__(self, http: httpx.AsyncClient, handle: str, app: str) -> None:
        super().__init__(handle, app)
        self.http = http

    async def request(self, method: str, path: str, payload: Any = None) -> httpx.Response:  # type: ignore[override]
        return await self.arequest(self.http, method, path, payload)

    async def register(self) -> None:
        response = await self.request("POST", "/v1/accounts", self.registration())
        assert response.status_code == 201, response.text

    async def send(self, recipient: str, message_id: str) -> httpx.Response:
        return await self.request(
            "POST",
            "/v1/messages",
            {
                "message_id": message_id,
                "recipient": recipient,
                "envelopes": [{"device_id": 1, "type": "message", "body": b64(b"ciphertext")}],
            },
        )


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # The run's engine: on the PostgreSQL run, the buckets are in its one Redis, keyed
    # by each database's own deployment, so tests never count against each other.
    limits = Limits(max_queue_depth=3, requests_per_second=1.0, request_burst=8)
    async with running(relay_settings(tmp_path / "server.db", limits)) as relay:
        yield relay.http


async def test_queue_depth_is_bounded_per_device(http: httpx.AsyncClient) -> None:
    alice, bob, carol = (Device(http, h, "chat") for h in ("alice", "bob", "carol"))
    for device in (alice, bob, carol):
        await device.register()
    for i in range(3):
        assert (await alice.send("bob@chat", f"m{i}")).status_code == 200
    full = await carol.send("bob@chat", "one-too-many")
    assert full.status_code == 429 and full.json()["type"] == "queue-full"
    assert (await alice.send("carol@chat", "other-queues-unaffected")).status_code == 200
    fetched = (await bob.request("GET", "/v1/messages")).json()["messages"]
    assert [m["message_id"] for m in fetched] == ["m0", "m1", "m2"]
    await bob.request("POST", "/v1/messages/ack", {"ids": [m["id"] for m in fetched]})
    assert (await carol.send("bob@chat", "room-again")).status_code == 200


async def test_request_rate_is_bounded_per_device(http: httpx.AsyncClient) -> None:
    alice, bob = Device(http, "alice", "chat"), Device(http, "bob", "chat")
    await alice.register()
    await bob.register()
    statuses = [
        (await alice.request("GET", "/v1/devices/self/prekeys")).status_code for _ in range(12)
    ]
    assert statuses[:8] == [200] * 8
    assert 429 in statuses[8:]
    limited = await alice.request("GET", "/v1/devices/self/prekeys")
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["type"] == "rate-limited"
    assert (await bob.request("GET", "/v1/devices/self/prekeys")).status_code == 200
