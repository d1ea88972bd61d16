"""Malformed bodies at the real server: always a 4xx problem document, never a 500,
and nothing already queued is lost or changed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.relay.device import CIPHERTEXT, PROBLEM_JSON, Device, body_of, envelope
from tests.support.api_device import ApiDevice, signed_headers
from tests.support.live_server import LiveServer

DEPTH = 100_000


def valid_send(recipient: str) -> dict[str, Any]:
    return {"message_id": "fine", "recipient": recipient, "envelopes": [envelope()]}


def bad_sends(recipient: str) -> dict[str, bytes]:
    good = json.dumps(valid_send(recipient)).encode()

    def send(**change: Any) -> bytes:
        return json.dumps({**valid_send(recipient), **change}).encode()

    return {
        "not json": b"this is not json",
        "empty": b"",
        "null": b"null",
        "array": b"[]",
        "number": b"42",
        "truncated": good[:-10],
        "invalid utf-8": good.replace(b"fine", b"\xff\xfe"),
        "lone surrogate": good.replace(recipient.encode(), rb"b\ud800@chat"),
        "wrong types": send(message_id=7, recipient=[], envelopes="x"),
        "envelope types": send(envelopes=[{"device_id": "one", "type": 5, "body": []}]),
        "bad base64": send(envelopes=[{"device_id": 1, "type": "message", "body": "@@no@@"}]),
        "unpadded base64": send(envelopes=[{"device_id": 1, "type": "message", "body": "AAA"}]),
        "nested arrays": b"[" * DEPTH + b"]" * DEPTH,
        "nested field": good.replace(b'"fine"', b'{"a": ' * 5000 + b"1" + b"}" * 5000),
        "huge string": send(message_id="x" * 3_000_000),
        "huge recipient": send(recipient="r" * 3_000_000),
        "huge number": good.replace(b'"device_id": 1', b'"device_id": ' + b"9" * 5000),
        "infinite float": good.replace(b'"device_id": 1', b'"device_id": 1e400'),
        "nan": good.replace(b'"device_id": 1', b'"device_id": NaN'),
        "huge device id": send(envelopes=[envelope(2**80)]),
    }


def other_endpoints() -> dict[str, tuple[str, str, bytes]]:
    huge = "x" * 3_000_000
    cases: dict[str, tuple[str, str, bytes]] = {}
    for method, path, huge_body in (
        ("POST", "/v1/messages/ack", {"ids": [huge]}),
        ("POST", "/v1/keys/claim", {"address": huge}),
        ("PUT", "/v1/devices/self/prekeys", {"one_time_prekeys": [{"id": 1, "public": huge}]}),
    ):
        for name, body in (
            ("not json", b"{nope"),
            ("nested", b"[" * DEPTH + b"]" * DEPTH),
            ("wrong types", b'{"ids": {}, "address": 5, "one_time_prekeys": "x"}'),
            ("huge string", json.dumps(huge_body).encode()),
        ):
            cases[f"{path} {name}"] = (method, path, body)
    return cases


def assert_client_error(response: httpx.Response, name: str) -> None:
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith(PROBLEM_JSON), name
    problem = response.json()
    assert problem["status"] == response.status_code and problem["detail"], name


async def test_a_barrage_of_malformed_bodies_is_refused_and_loses_nothing(
    shared_server: LiveServer, live_http: httpx.AsyncClient
) -> None:
    alice = await Device(live_http, "alice").register()
    bob = await Device(live_http, "bob").register()
    assert (await alice.send(bob.address, "keep-me")).status_code == 200

    requests = {
        name: ("POST", "/v1/messages", body) for name, body in bad_sends(bob.address).items()
    }
    requests.update(other_endpoints())
    for name, (method, path, body) in requests.items():
        headers = signed_headers(alice.identity.signing_key, alice.address, method, path, body)
        response = await live_http.request(method, path, content=body, headers=headers)
        assert_client_error(response, name)
        # The same junk unsigned is refused as well (no parsing before authentication
        # makes a difference to the answer's class).
        unsigned = await live_http.request(method, path, content=body)
        assert_client_error(unsigned, name + " unsigned")

    assert (await live_http.get("/healthz")).json() == {"status": "ok"}
    (kept,) = (await bob.fetch())["messages"]
    assert (kept["message_id"], body_of(kept)) == ("keep-me", CIPHERTEXT)
    assert (await alice.send(bob.address, "after")).json()["duplicate"] is False
    assert "Traceback" not in shared_server.log_text()


# Arbitrary JSON values dropped into the fields of otherwise valid bodies.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def valid_bodies(recipient: str, sender: ApiDevice) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("POST", "/v1/messages"): valid_send(recipient),
        ("POST", "/v1/messages/ack"): {"ids": [1, 2]},
        ("POST", "/v1/keys/claim"): {"address": recipient, "device_ids": [1]},
        ("PUT", "/v1/devices/self/prekeys"): {
            "signed_prekey": {"id": 1, "public": "AA==", "signature": "AA=="},
            "one_time_prekeys": [{"id": 1, "public": "AA=="}],
            "kem_one_time_prekeys": [],
        },
        ("POST", "/v1/accounts"): sender.registration(),
    }


def replace_somewhere(data: st.DataObject, value: Any) -> Any:
    """``value`` with one nested field (chosen by hypothesis) replaced by arbitrary JSON."""
    if isinstance(value, dict) and value:
        key = data.draw(st.sampled_from(sorted(value)))
        replaced = data.draw(st.booleans())
        return {
            **value,
            key: data.draw(json_values) if replaced else replace_somewhere(data, value[key]),
        }
    if isinstance(value, list) and value:
        i = data.draw(st.integers(0, len(value) - 1))
        return [*value[:i], replace_somewhere(data, value[i]), *value[i + 1 :]]
    return data.draw(json_values)


def test_mutated_bodies_never_cause_a_server_error(shared_server: LiveServer) -> None:
    with httpx.Client(base_url=shared_server.url, timeout=30) as http:
        alice, bob = ApiDevice("fuzz-a", "chat"), ApiDevice("fuzz-b", "chat")
        for device in (alice, bob):
            registered = device.request(http, "POST", "/v1/accounts", device.registration())
            assert registered.status_code == 201, registered.text
        bodies = valid_bodies(bob.address, ApiDevice("fuzz-new", "chat"))

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(st.sampled_from(sorted(bodies)), st.data())
        def probe(endpoint: tuple[str, str], data: st.DataObject) -> None:
            payload = replace_somewhere(data, bodies[endpoint])
            response = alice.request(http, *endpoint, payload)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith(PROBLEM_JSON)
                assert response.json()["detail"]

        probe()
        assert http.get("/healthz").json() == {"status": "ok"}
    assert "Traceback" not in shared_server.log_text()


@pytest.mark.parametrize("path", ["/v1/nowhere", "/v1/messages/ack/extra"])
async def test_unknown_routes_are_problem_documents(
    live_http: httpx.AsyncClient, path: str
) -> None:
    response = await live_http.get(path)
    assert response.status_code in (404, 405)
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
