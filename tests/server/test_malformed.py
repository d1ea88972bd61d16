"""Bad bodies: always a 4xx problem document, never a 5xx, and nothing stored is harmed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import Relay
from tests.support.device import ACCOUNTS, ACK, CLAIM, MESSAGES, PREKEYS, BareDevice, assert_problem

BODY_ENDPOINTS = [
    ("POST", ACCOUNTS),
    ("PUT", PREKEYS),
    ("POST", CLAIM),
    ("POST", MESSAGES),
    ("POST", ACK),
]

MALFORMED = {
    "not json": b"hello",
    "truncated json": b'{"ids": [1, 2',
    "invalid utf-8": b'{"ids": ["\xff\xfe"]}',
    "json array": b"[1, 2, 3]",
    "json string": b'"text"',
    "null": b"null",
    "empty": b"",
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge number": b'{"ids": [' + b"9" * 5_000 + b"]}",
    "nan": b'{"app": NaN, "one_time_prekeys": [NaN], "address": NaN, "recipient": NaN, '
    b'"ids": [NaN]}',
    "wrong types": json.dumps(
        {
            "app": 1,
            "handle": [],
            "one_time_prekeys": "x",
            "address": {},
            "message_id": 5,
            "recipient": None,
            "envelopes": {"device_id": 1},
            "ids": {"1": 1},
        }
    ).encode(),
}


async def stored_message(relay: Relay) -> tuple[BareDevice, BareDevice, str]:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    send = BareDevice.send_body(bob.address)
    assert (await alice.call(relay.http, "POST", MESSAGES, send)).status_code == 200
    return alice, bob, str(send["message_id"])


async def test_malformed_bodies_are_4xx_and_nothing_is_harmed(relay: Relay) -> None:
    alice, bob, message_id = await stored_message(relay)
    for name, body in MALFORMED.items():
        for method, path in BODY_ENDPOINTS:
            response = await alice.call(relay.http, method, path, content=body)
            problem = assert_problem(response, response.status_code)
            assert 400 <= response.status_code < 500, (name, path, problem)
    page = (await bob.call(relay.http, "GET", MESSAGES)).json()
    assert [m["message_id"] for m in page["messages"]] == [message_id]
    assert (await relay.http.get("/healthz")).status_code == 200


async def test_unknown_routes_and_methods_are_problems(relay: Relay) -> None:
    assert_problem(await relay.http.get("/v1/nothing"), 404, "not-found")
    assert_problem(await relay.http.delete("/v1/messages"), 405, "method-not-allowed")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "app",
        "handle",
        "account_key",
        "identity",
        "device_list",
        "signed_prekey",
        "one_time_prekeys",
        "kem_one_time_prekeys",
        "address",
        "device_ids",
        "message_id",
        "recipient",
        "envelopes",
        "ids",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(BODY_ENDPOINTS),
    payload=st.dictionaries(field_names, json_values, max_size=6),
)
async def test_arbitrary_signed_json_never_causes_a_server_error(
    relay: Relay, endpoint: tuple[str, str], payload: dict[str, Any]
) -> None:
    alice = BareDevice()
    await alice.register(relay.http)
    method, path = endpoint
    response = await alice.call(relay.http, method, path, payload)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


async def test_an_internal_failure_is_a_500_problem_that_reveals_nothing(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await BareDevice().register(relay.http)

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(relay.state.repo, "fetch", broken)
    response = await alice.call(relay.http, "GET", MESSAGES)
    assert_problem(response, 500, "internal-error")
    assert "secret" not in response.text
    assert (await alice.call(relay.http, "GET", PREKEYS)).status_code == 200
