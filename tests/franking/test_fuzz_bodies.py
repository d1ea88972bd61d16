"""Arbitrary JSON at the sealed-send, access-key and report endpoints of the real
server: never a 5xx, every refusal a problem document, nothing stored."""

from __future__ import annotations

import secrets

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import server_db
from tests.support.api_device import ApiDevice
from tests.support.live_server import LiveServer

SIGNED = [("POST", "/v1/reports"), ("PUT", "/v1/accounts/self/unidentified-access")]
FIELDS = [
    "message_id", "recipient", "envelopes", "device_id", "type", "body", "commitment",
    "reason", "messages", "sender", "sender_device", "recipient_device", "server_ts",
    "content", "franking_key", "franking_tag", "sender_certificate", "access_key",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)
# Header values HTTP can carry: visible ASCII, base64 of the right length or not.
headers = st.one_of(
    st.none(),
    st.from_regex(r"[A-Za-z0-9+/=!*-]{1,40}", fullmatch=True),
    st.just("AAAAAAAAAAAAAAAAAAAAAA=="),
)


def count(relay: LiveServer, table: str) -> int:
    (row,) = server_db.rows(relay, f"SELECT count(*) AS n FROM {table}")
    return int(row["n"])


def test_arbitrary_json_never_causes_a_server_error(relay: LiveServer) -> None:
    with httpx.Client(base_url=relay.url, timeout=30) as http:
        alice = ApiDevice(f"fz-{secrets.token_hex(3)}", "chat")
        assert alice.request(http, "POST", "/v1/accounts", alice.registration()).status_code == 201
        reports, queued = count(relay, "abuse_reports"), count(relay, "queued_messages")

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(st.sampled_from(SIGNED), json_values, json_values, headers)
        def probe(
            endpoint: tuple[str, str], signed: object, sealed: object, key: str | None
        ) -> None:
            for response in (
                alice.request(http, *endpoint, signed),
                http.post(
                    "/v1/messages/sealed",
                    json=sealed,
                    headers={} if key is None else {"unidentified-access-key": key},
                ),
            ):
                assert response.status_code < 500, response.text
                if response.status_code >= 400:
                    assert response.headers["content-type"].startswith("application/problem+json")

        probe()
        assert count(relay, "abuse_reports") == reports
        assert count(relay, "queued_messages") == queued
        assert http.get("/healthz").status_code == 200
