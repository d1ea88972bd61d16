"""Signed requests at the server: who may call what, and what is refused."""

from __future__ import annotations

import pytest

from sottovoce.crypto.signing import SigningKey
from sottovoce.server.limits import CLOCK_SKEW_MS
from tests.server.conftest import Relay
from tests.support.device import MESSAGES, PREKEYS, BareDevice, assert_problem, now_ms


async def test_public_endpoints_need_no_signature(relay: Relay) -> None:
    assert (await relay.http.get("/healthz")).json() == {"status": "ok"}
    assert (await relay.http.get("/v1/apps")).json() == {"apps": ["chat", "photos"]}
    openapi = (await relay.http.get("/openapi.json")).json()
    assert {"/v1/accounts", "/v1/keys/claim", "/v1/messages", "/v1/messages/ack"} <= set(
        openapi["paths"]
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", PREKEYS),
        ("PUT", PREKEYS),
        ("POST", "/v1/keys/claim"),
        ("POST", MESSAGES),
        ("GET", MESSAGES),
        ("POST", "/v1/messages/ack"),
        ("GET", "/v1/accounts/chat/alice"),
    ],
)
async def test_every_other_endpoint_refuses_an_unsigned_request(
    relay: Relay, method: str, path: str
) -> None:
    response = await relay.http.request(method, path, json={} if method != "GET" else None)
    assert_problem(response, 401, "unauthenticated")


async def test_a_signed_request_is_accepted(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    assert (await alice.call(relay.http, "GET", PREKEYS)).status_code == 200


async def test_a_signature_by_another_key_is_refused(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    response = await alice.call(relay.http, "GET", PREKEYS, signer=SigningKey.generate())
    assert_problem(response, 401, "bad-signature")


async def test_a_signature_does_not_carry_over_to_another_body_or_path(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    request = alice.build(relay.http, "POST", "/v1/messages/ack", {"ids": [1]})
    other_body = relay.http.build_request(
        "POST", "/v1/messages/ack", content=b'{"ids": [2]}', headers=dict(request.headers)
    )
    assert_problem(await relay.http.send(other_body), 401, "bad-signature")
    signed_for_limit_1 = alice.build(relay.http, "GET", f"{MESSAGES}?limit=1")
    other_query = relay.http.build_request(
        "GET", f"{MESSAGES}?limit=2", headers=dict(signed_for_limit_1.headers)
    )
    assert_problem(await relay.http.send(other_query), 401, "bad-signature")


@pytest.mark.parametrize("offset_ms", [-CLOCK_SKEW_MS - 5_000, CLOCK_SKEW_MS + 5_000])
async def test_a_timestamp_outside_the_window_is_refused(relay: Relay, offset_ms: int) -> None:
    alice = await BareDevice().register(relay.http)
    response = await alice.call(relay.http, "GET", PREKEYS, timestamp_ms=now_ms() + offset_ms)
    assert_problem(response, 401, "stale-request")
    within = await alice.call(relay.http, "GET", PREKEYS, timestamp_ms=now_ms() - 60_000)
    assert within.status_code == 200


async def test_a_replayed_request_is_refused(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    request = alice.build(relay.http, "GET", PREKEYS)
    assert (await relay.http.send(request)).status_code == 200
    replay = relay.http.build_request("GET", PREKEYS, headers=dict(request.headers))
    assert_problem(await relay.http.send(replay), 401, "replayed-request")


async def test_a_refused_request_does_not_burn_its_nonce(relay: Relay) -> None:
    """A forged request with a victim's nonce must not block the victim's real one."""
    alice = await BareDevice().register(relay.http)
    nonce = "AAAAAAAAAAAAAAAAAAAAAA=="
    forged = await alice.call(
        relay.http, "GET", PREKEYS, nonce_b64=nonce, signer=SigningKey.generate()
    )
    assert_problem(forged, 401, "bad-signature")
    assert (await alice.call(relay.http, "GET", PREKEYS, nonce_b64=nonce)).status_code == 200


async def test_an_unknown_account_or_device_is_refused(relay: Relay) -> None:
    stranger = BareDevice()
    assert_problem(await stranger.call(relay.http, "GET", PREKEYS), 401, "unknown-device")
    alice = await BareDevice().register(relay.http)
    alice.device_id = 2
    assert_problem(await alice.call(relay.http, "GET", PREKEYS), 401, "unknown-device")


async def test_a_malformed_header_is_refused_naming_the_fault(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    header = alice.authorization("GET", PREKEYS, b"").replace('device="1"', 'device="01"')
    response = await relay.http.get(PREKEYS, headers={"authorization": header})
    problem = assert_problem(response, 401, "unauthenticated")
    assert "device" in problem["detail"]
