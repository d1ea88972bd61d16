"""The real server process: restarts and crashes lose nothing; logs and the API
description carry no content."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.relay.device import Device, body_of, envelope
from tests.support.api_device import b64, signed_headers
from tests.support.live_server import LiveServer

# Distinctive bytes: if any form of them reaches the log, the test sees it.
SECRET_BODY = b"\x8e\x1f sealed envelope bytes 5c7a9e \x00\xfe"


async def test_restarts_and_crashes_keep_queued_messages_and_accounts(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        alice = await Device(http, "alice").register()
        bob = await Device(http, "bob").register()
        for i in range(3):
            assert (await alice.send(bob.address, f"r{i}")).status_code == 200
        before = (await bob.fetch())["messages"]
        await bob.ack([before[0]["id"]])

        live_server.stop()
        live_server.start()

        assert (await bob.fetch())["messages"] == before[1:]
        # Idempotency survives too: a retry of a stored message is still a duplicate.
        assert (await alice.send(bob.address, "r2")).json()["duplicate"] is True

        # SIGKILL right after 20 concurrent sends to four devices returned success.
        carols = [await Device(http, f"carol{i}").register() for i in range(4)]
        answers = await asyncio.gather(
            *(alice.send(carols[i % 4].address, f"k{i}") for i in range(20))
        )
        assert all(a.status_code == 200 for a in answers)
        live_server.kill()
        live_server.start()

        delivered = []
        for carol in carols:
            delivered += [m["message_id"] for m in (await carol.fetch())["messages"]]
        assert sorted(delivered) == sorted(f"k{i}" for i in range(20))
        assert (await bob.fetch())["messages"] == before[1:]
        # Queue ids keep growing across restarts, so a stream can resume after one.
        assert (await alice.send(bob.address, "r3")).json()["duplicate"] is False
        newest = (await bob.fetch())["messages"][-1]
        assert newest["message_id"] == "r3" and newest["id"] > before[-1]["id"]


async def test_the_log_holds_no_bodies_addresses_or_client_ports(
    shared_server: LiveServer, live_http: httpx.AsyncClient
) -> None:
    alice = await Device(live_http, "alice").register()
    bob = await Device(live_http, "bob").register()
    await alice.send(bob.address, "logged-nowhere", [envelope(body=SECRET_BODY)])
    await alice.send(bob.address, "bad", [envelope(2)])  # a refusal names the account
    headers = signed_headers(bob.identity.signing_key, bob.address, "GET", "/v1/ws", b"")
    url = "ws" + shared_server.url.removeprefix("http") + "/v1/ws"
    async with websockets.connect(
        url, additional_headers={"authorization": headers["authorization"]}
    ) as connection:
        frame = json.loads(await asyncio.wait_for(connection.recv(), 10))
        assert body_of(frame["envelope"]) == SECRET_BODY
        client_port = connection.local_address[1]
        await connection.send(json.dumps({"type": "ack", "ids": [frame["envelope"]["id"]]}))
        await connection.send("not json")  # answered only after the ack was handled
        assert json.loads(await asyncio.wait_for(connection.recv(), 10))["type"] == "queue_empty"
        assert json.loads(await asyncio.wait_for(connection.recv(), 10))["type"] == "error"
    log = shared_server.log_text()
    assert "Application startup complete" in log  # the log is the server's, and was written
    for needle in (
        b64(SECRET_BODY),
        SECRET_BODY.decode("latin-1"),
        "5c7a9e",
        alice.handle,
        bob.handle,
        f":{client_port}",
    ):
        assert needle not in log, needle


async def test_the_openapi_document_describes_the_api(live_http: httpx.AsyncClient) -> None:
    response = await live_http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert {
        ("GET", "/healthz"),
        ("GET", "/v1/apps"),
        ("POST", "/v1/accounts"),
        ("GET", "/v1/accounts/{app}/{handle}"),
        ("PUT", "/v1/devices/self/prekeys"),
        ("GET", "/v1/devices/self/prekeys"),
        ("POST", "/v1/keys/claim"),
        ("POST", "/v1/messages"),
        ("GET", "/v1/messages"),
        ("POST", "/v1/messages/ack"),
    } <= operations
