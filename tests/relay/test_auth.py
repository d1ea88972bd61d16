"""Signed requests: every way a request can fail to prove its device is a 401."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.request_auth import authorization_header
from tests.relay.device import Device, assert_problem, envelope
from tests.support.api_device import b64, signed_headers

PATH = "/v1/devices/self/prekeys"
SKEW_MS = 300_000


def headers_for(
    device: Device,
    method: str = "GET",
    path: str = PATH,
    body: bytes = b"",
    *,
    device_id: int = 1,
    timestamp_ms: int | None = None,
) -> dict[str, str]:
    return signed_headers(
        device.identity.signing_key,
        device.address,
        method,
        path,
        body,
        device_id=device_id,
        timestamp_ms=timestamp_ms,
    )


@pytest.fixture
async def alice(relay: httpx.AsyncClient) -> Device:
    return await Device(relay, "alice").register()


async def test_a_signed_request_is_accepted(relay: httpx.AsyncClient, alice: Device) -> None:
    response = await relay.get(PATH, headers=headers_for(alice))
    assert response.status_code == 200, response.text


async def test_a_missing_header_is_refused(relay: httpx.AsyncClient, alice: Device) -> None:
    assert_problem(await relay.get(PATH), 401, "unauthenticated")
    assert_problem(await relay.get(PATH, headers={"authorization": ""}), 401, "unauthenticated")


def _malformed(header: str, case: str) -> str:
    fields = dict(part.strip().split("=", 1) for part in header.split(" ", 1)[1].split(","))
    rebuilt = ", ".join(f"{k}={v}" for k, v in fields.items())
    return {
        "other scheme": "Bearer " + header.split(" ", 1)[1],
        "scheme only": "Sottovoce-Signature",
        "lowercase scheme": "sottovoce-signature " + rebuilt,
        "no nonce": "Sottovoce-Signature "
        + ", ".join(f"{k}={v}" for k, v in fields.items() if k != "nonce"),
        "repeated field": header + ', device="1"',
        "unquoted value": header.replace('device="1"', "device=1"),
        "device not a number": header.replace('device="1"', 'device="one"'),
        "timestamp not a number": header.replace(fields["timestamp"], '"' + "12:00" + '"'),
        "nonce not base64": header.replace(fields["nonce"], '"!!!!"'),
        "short nonce": header.replace(fields["nonce"], '"AAAA"'),
        "signature not base64": header.replace(fields["signature"], '"#sig#"'),
        "too long": header + " " * 2000,
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "other scheme",
        "scheme only",
        "lowercase scheme",
        "no nonce",
        "repeated field",
        "unquoted value",
        "device not a number",
        "timestamp not a number",
        "nonce not base64",
        "short nonce",
        "signature not base64",
        "too long",
    ],
)
async def test_malformed_headers_are_refused(
    relay: httpx.AsyncClient, alice: Device, case: str
) -> None:
    header = headers_for(alice)["authorization"]
    malformed = _malformed(header, case)
    assert malformed != header
    problem = assert_problem(
        await relay.get(PATH, headers={"authorization": malformed}), 401, "unauthenticated"
    )
    assert "authorization" in problem["detail"]


async def test_a_signature_by_another_key_is_refused(
    relay: httpx.AsyncClient, alice: Device
) -> None:
    impostor = IdentityKeyPair.generate()
    headers = signed_headers(impostor.signing_key, alice.address, "GET", PATH, b"")
    assert_problem(await relay.get(PATH, headers=headers), 401, "bad-signature")


async def test_the_signature_covers_method_path_query_and_body(
    relay: httpx.AsyncClient, alice: Device
) -> None:
    bob = await Device(relay, "bob").register()
    body = json.dumps(
        {"message_id": "m1", "recipient": bob.address, "envelopes": [envelope()]}
    ).encode()
    signed_for = headers_for(alice, "POST", "/v1/messages", body)
    tampered = body.replace(b"m1", b"m2")
    assert_problem(
        await relay.post("/v1/messages", content=tampered, headers=signed_for), 401, "bad-signature"
    )
    assert_problem(
        await relay.get(
            "/v1/messages?limit=2", headers=headers_for(alice, path="/v1/messages?limit=1")
        ),
        401,
        "bad-signature",
    )
    assert_problem(
        await relay.get("/v1/messages", headers=headers_for(alice, "POST", "/v1/messages")),
        401,
        "bad-signature",
    )
    assert (await bob.fetch())["messages"] == []


async def test_another_devices_address_is_checked_against_that_devices_key(
    relay: httpx.AsyncClient, alice: Device
) -> None:
    bob = await Device(relay, "bob").register()
    headers = signed_headers(alice.identity.signing_key, bob.address, "GET", PATH, b"")
    assert_problem(await relay.get(PATH, headers=headers), 401, "bad-signature")


@pytest.mark.parametrize("offset_ms", [-SKEW_MS - 5_000, SKEW_MS + 5_000, -(10**12)])
async def test_stale_timestamps_are_refused(
    relay: httpx.AsyncClient, alice: Device, offset_ms: int
) -> None:
    headers = headers_for(alice, timestamp_ms=int(time.time() * 1000) + offset_ms)
    assert_problem(await relay.get(PATH, headers=headers), 401, "stale-request")


async def test_timestamps_inside_the_window_are_accepted(
    relay: httpx.AsyncClient, alice: Device
) -> None:
    for offset_ms in (-SKEW_MS + 30_000, SKEW_MS - 30_000):
        headers = headers_for(alice, timestamp_ms=int(time.time() * 1000) + offset_ms)
        assert (await relay.get(PATH, headers=headers)).status_code == 200


async def test_a_replayed_request_is_refused_and_stores_nothing(
    relay: httpx.AsyncClient, alice: Device
) -> None:
    bob = await Device(relay, "bob").register()
    body = json.dumps(
        {"message_id": "once", "recipient": bob.address, "envelopes": [envelope()]}
    ).encode()
    headers = headers_for(alice, "POST", "/v1/messages", body)
    assert (await relay.post("/v1/messages", content=body, headers=headers)).status_code == 200
    replay = await relay.post("/v1/messages", content=body, headers=headers)
    assert_problem(replay, 401, "replayed-request")
    get_headers = headers_for(alice)
    assert (await relay.get(PATH, headers=get_headers)).status_code == 200
    assert_problem(await relay.get(PATH, headers=get_headers), 401, "replayed-request")
    assert [m["message_id"] for m in (await bob.fetch())["messages"]] == ["once"]


async def test_a_forged_request_cannot_burn_a_genuine_nonce(
    relay: httpx.AsyncClient, alice: Device
) -> None:
    """The nonce is remembered only once the signature verified, so an attacker who
    sees a header cannot spend it first with junk and block the real request."""
    body = b'{"ids": []}'
    headers = headers_for(alice, "POST", "/v1/messages/ack", body)
    junk = await relay.post("/v1/messages/ack", content=b'{"ids": [1]}', headers=headers)
    assert_problem(junk, 401, "bad-signature")
    genuine = await relay.post("/v1/messages/ack", content=body, headers=headers)
    assert genuine.status_code == 200, genuine.text


async def test_nonces_are_tracked_per_device(relay: httpx.AsyncClient, alice: Device) -> None:
    bob = await Device(relay, "bob").register()
    nonce = b64(b"the same 16 byte")
    for device in (alice, bob):
        header = authorization_header(
            device.identity.signing_key,
            "GET",
            PATH,
            device.address,
            1,
            b"",
            timestamp_ms=int(time.time() * 1000),
            nonce_b64=nonce,
        )
        response = await relay.get(PATH, headers={"authorization": header})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("device_id", [2, 2**31, 2**32 - 1])
async def test_unknown_devices_are_refused(
    relay: httpx.AsyncClient, alice: Device, device_id: int
) -> None:
    headers = headers_for(alice, device_id=device_id)
    assert_problem(await relay.get(PATH, headers=headers), 401, "unknown-device")


@pytest.mark.parametrize("device_id", [0, -1, 2**32, 2**63, 2**70])
async def test_device_ids_no_device_list_can_hold_are_refused(
    relay: httpx.AsyncClient, alice: Device, device_id: int
) -> None:
    """Device ids are u32; larger ones once reached the database and failed there (500)."""
    headers = headers_for(alice, device_id=device_id)
    assert_problem(await relay.get(PATH, headers=headers), 401)


async def test_an_unknown_account_is_refused(relay: httpx.AsyncClient) -> None:
    ghost = Device(relay, "ghost")
    assert_problem(await ghost.call("GET", PATH), 401, "unknown-device")
