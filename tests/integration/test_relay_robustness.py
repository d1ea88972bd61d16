"""The real server under concurrent claims, bad input and forged requests.

Every refusal is a 4xx problem document naming what was wrong, the server keeps
serving, and nothing already queued is lost.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
import pytest

from sottovoce.client import Client
from tests.support import api_device
from tests.support.live_server import LiveServer


def signed_headers(
    client: Client, method: str, path: str, body: bytes, timestamp_ms: int | None = None
) -> dict[str, str]:
    """Headers exactly as the SDK signs them, with the client's own key."""
    return api_device.signed_headers(
        client._identity.signing_key, client.address, method, path, body, timestamp_ms=timestamp_ms
    )


def assert_problem(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, object]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == response.status_code
    assert isinstance(problem["detail"], str) and problem["detail"]
    return dict(problem)


@pytest.fixture
async def pair(live_server: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    a = await Client.create_account(tmp_path / "a", live_server.url, "chat", "alice")
    b = await Client.create_account(tmp_path / "b", live_server.url, "photos", "bob")
    yield a, b
    await a.close()
    await b.close()


async def test_concurrent_claims_never_share_a_one_time_prekey(
    live_server: LiveServer, tmp_path: Path, pair: tuple[Client, Client]
) -> None:
    a, _ = pair
    claimers = [a] + [
        await Client.create_account(tmp_path / f"c{i}", live_server.url, "chat", f"claimer{i}")
        for i in range(2)
    ]

    async def claim(client: Client) -> dict[str, object]:
        response = await client._transport.request(
            "POST", "/v1/keys/claim", {"address": "bob@photos"}
        )
        (bundle,) = response["bundles"]
        return dict(bundle)

    bundles = await asyncio.gather(*(claim(claimers[i % 3]) for i in range(130)))
    one_time = [b["one_time_prekey"]["id"] for b in bundles if b["one_time_prekey"]]  # type: ignore[index]
    kem_one_time = [b["kem_prekey"]["id"] for b in bundles if not b["kem_prekey"]["last_resort"]]  # type: ignore[index]
    assert len(one_time) == len(set(one_time)) == 100
    assert len(kem_one_time) == len(set(kem_one_time)) == 100
    exhausted = [b for b in bundles if b["one_time_prekey"] is None]
    assert len(exhausted) == 30
    assert all(b["kem_prekey"]["last_resort"] for b in exhausted)  # type: ignore[index]
    for client in claimers[1:]:
        await client.close()


async def test_bad_input_gets_4xx_and_nothing_is_lost(
    live_server: LiveServer, pair: tuple[Client, Client]
) -> None:
    a, b = pair
    await a.send("bob@photos", "survives the barrage")
    url = live_server.url
    bodies = {
        "not json": b"this is not json",
        "wrong types": json.dumps({"message_id": 7, "recipient": [], "envelopes": "x"}).encode(),
        "bad base64": json.dumps(
            {
                "message_id": "m1",
                "recipient": "bob@photos",
                "envelopes": [{"device_id": 1, "type": "message", "body": "@@not base64@@"}],
            }
        ).encode(),
        "deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "empty": b"",
        "bad message id": json.dumps(
            {
                "message_id": "../../etc",
                "recipient": "bob@photos",
                "envelopes": [{"device_id": 1, "type": "message", "body": "AA=="}],
            }
        ).encode(),
        "unknown envelope type": json.dumps(
            {
                "message_id": "m2",
                "recipient": "bob@photos",
                "envelopes": [{"device_id": 1, "type": "plaintext", "body": "AA=="}],
            }
        ).encode(),
        "too many envelopes": json.dumps(
            {
                "message_id": "m3",
                "recipient": "bob@photos",
                "envelopes": [
                    {"device_id": i, "type": "message", "body": "AA=="} for i in range(1, 40)
                ],
            }
        ).encode(),
        "envelope too big": json.dumps(
            {
                "message_id": "m4",
                "recipient": "bob@photos",
                "envelopes": [
                    {
                        "device_id": 1,
                        "type": "message",
                        "body": base64.b64encode(bytes(70_000)).decode(),
                    }
                ],
            }
        ).encode(),
    }
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for name, body in bodies.items():
            response = await http.post(
                "/v1/messages",
                content=body,
                headers=signed_headers(a, "POST", "/v1/messages", body),
            )
            assert_problem(response, (400, 413, 422)), name
        huge = b'{"message_id": "' + b"x" * (5 * 1024 * 1024) + b'"}'
        response = await http.post(
            "/v1/messages", content=huge, headers={"content-type": "application/json"}
        )
        assert assert_problem(response, 413)["type"] == "body-too-large"

        async def stream() -> object:
            for _ in range(80):
                yield b"x" * 65536

        response = await http.post("/v1/messages", content=stream())
        assert_problem(response, 413)
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/openapi.json")).status_code == 200
    assert [m.text for m in await b.fetch()] == ["survives the barrage"]
    assert "survives the barrage" not in live_server.log_text()


async def test_forged_and_replayed_requests_are_refused(
    live_server: LiveServer, pair: tuple[Client, Client]
) -> None:
    a, b = pair
    path = "/v1/messages?limit=10"
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        assert_problem(await http.get(path), 401)
        assert_problem(await http.get(path, headers={"authorization": "Bearer token"}), 401)
        headers = signed_headers(a, "GET", path, b"")
        assert (await http.get(path, headers=headers)).status_code == 200
        assert (
            assert_problem(await http.get(path, headers=headers), 401)["type"] == "replayed-request"
        )
        stale = signed_headers(a, "GET", path, b"", timestamp_ms=int(time.time() * 1000) - 600_000)
        assert assert_problem(await http.get(path, headers=stale), 401)["type"] == "stale-request"
        other_path = signed_headers(a, "GET", "/v1/messages?limit=11", b"")
        assert (
            assert_problem(await http.get(path, headers=other_path), 401)["type"] == "bad-signature"
        )
        # bob's address with alice's key: the server checks bob's registered key.
        forged = signed_headers(a, "GET", path, b"")
        forged["authorization"] = forged["authorization"].replace(a.address, b.address)
        assert assert_problem(await http.get(path, headers=forged), 401)["type"] == "bad-signature"
        ghost = signed_headers(a, "GET", path, b"")
        ghost["authorization"] = ghost["authorization"].replace('device="1"', 'device="9"')
        assert assert_problem(await http.get(path, headers=ghost), 401)["type"] == "unknown-device"


async def test_stale_device_set_and_idempotent_retry(
    live_server: LiveServer, pair: tuple[Client, Client]
) -> None:
    a, b = pair
    ciphertext = base64.b64encode(b"opaque to the server").decode()
    body = {
        "message_id": "retry-1",
        "recipient": "bob@photos",
        "envelopes": [{"device_id": 1, "type": "message", "body": ciphertext}],
    }
    first = await a._transport.request("POST", "/v1/messages", body)
    again = await a._transport.request("POST", "/v1/messages", body)
    assert (first["duplicate"], first["stored"]) == (False, 1)
    assert (again["duplicate"], again["stored"]) == (True, 0)
    queued = await b._transport.request("GET", "/v1/messages")
    assert [m["message_id"] for m in queued["messages"]] == ["retry-1"]
    stale = dict(
        body,
        message_id="stale-1",
        envelopes=[{"device_id": 2, "type": "message", "body": ciphertext}],
    )
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        raw = json.dumps(stale).encode()
        response = await http.post(
            "/v1/messages", content=raw, headers=signed_headers(a, "POST", "/v1/messages", raw)
        )
    problem = assert_problem(response, 409)
    assert (problem["type"], problem["missing"], problem["extra"]) == ("stale-devices", [1], [2])


async def test_queued_messages_survive_a_crash(
    live_server: LiveServer, pair: tuple[Client, Client]
) -> None:
    a, b = pair
    await a.send("bob@photos", "before the crash")
    live_server.kill()
    live_server.start()
    await a.send("bob@photos", "after the restart")
    assert [m.text for m in await b.fetch()] == ["before the crash", "after the restart"]
