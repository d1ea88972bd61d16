"""Arbitrary JSON, properly signed, at every endpoint of the real server: never a 5xx,
every refusal a problem document, and the server keeps serving."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api_device import ApiDevice
from tests.support.live_server import LiveServer

ENDPOINTS = [
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/ack"),
    ("POST", "/v1/keys/claim"),
    ("PUT", "/v1/devices/self/prekeys"),
    ("POST", "/v1/accounts"),
]
FIELDS = [
    "message_id", "recipient", "envelopes", "device_id", "type", "body", "ids", "address",
    "device_ids", "signed_prekey", "id", "public", "signature", "one_time_prekeys",
    "kem_one_time_prekeys", "kem_last_resort", "app", "handle", "account_key", "identity",
    "device_list",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)


def test_arbitrary_json_never_causes_a_server_error(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        alice, bob = ApiDevice("alice", "chat"), ApiDevice("bob", "chat")
        for device in (alice, bob):
            assert (
                device.request(http, "POST", "/v1/accounts", device.registration()).status_code
                == 201
            )

        @settings(
            max_examples=200,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(st.sampled_from(ENDPOINTS), json_values)
        def probe(endpoint: tuple[str, str], payload: object) -> None:
            response = alice.request(http, *endpoint, payload)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["detail"]

        probe()
        assert http.get("/healthz").json() == {"status": "ok"}
    assert "Traceback" not in live_server.log_text()
