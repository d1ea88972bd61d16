"""The signed-request header on its own: both sides of protocol.public.request_auth,
and the server's replay cache."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.request_auth import (
    authorization_header,
    parse_authorization_header,
    signing_message,
    verify_request,
)
from sottovoce.server.auth import NonceCache
from sottovoce.server.problems import Problem

KEY = SigningKey.generate()
NONCE = base64.b64encode(b"n" * 16).decode()
SIGNATURE = base64.b64encode(b"s" * 64).decode()

paths = st.text(st.characters(codec="ascii", exclude_characters="\n"), min_size=1, max_size=40)
bodies = st.binary(max_size=64)
methods = st.sampled_from(["GET", "PUT", "POST", "DELETE"])


def header(**fields: str) -> str:
    values = {
        "address": "alice@chat",
        "device": "1",
        "timestamp": "1732272000123",
        "nonce": NONCE,
        "signature": SIGNATURE,
    }
    values.update(fields)
    return "Sottovoce-Signature " + ", ".join(f'{k}="{v}"' for k, v in values.items())


def test_the_signed_message_is_the_documented_layout() -> None:
    message = signing_message("post", "/v1/messages?x=1", "alice@chat", 2, 17, NONCE, b"{}")
    assert message == (
        b"Sottovoce request v1\nPOST\n/v1/messages?x=1\nalice@chat\n2\n17\n"
        + NONCE.encode()
        + b"\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


@settings(max_examples=40, deadline=None)
@given(method=methods, path=paths, body=bodies, device=st.integers(1, 2**32 - 1))
def test_a_header_verifies_for_exactly_the_request_it_was_made_for(
    method: str, path: str, body: bytes, device: int
) -> None:
    value = authorization_header(
        KEY, method, path, "alice@chat", device, body, timestamp_ms=5, nonce_b64=NONCE
    )
    parsed = parse_authorization_header(value)
    assert (parsed.address, parsed.device_id, parsed.timestamp_ms) == ("alice@chat", device, 5)
    verify_request(parsed, KEY.public, method, path, body)
    for other in [
        (method, path + "x", body),
        (method, path, body + b"\x00"),
        ("PATCH", path, body),
    ]:
        with pytest.raises(VerificationError):
            verify_request(parsed, KEY.public, *other)
    with pytest.raises(VerificationError):
        verify_request(parsed, SigningKey.generate().public, method, path, body)


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("", "scheme"),
        ("Bearer abc", "scheme"),
        (header().replace('device="1", ', ""), "lacks device"),
        (header() + ', extra="1"', "unknown field"),
        (header() + ', device="1"', "repeats device"),
        (header(address="alice"), "address"),
        (header(address="alice@chat\nPOST"), "address"),
        (header(device="0"), "device"),
        (header(device="01"), "device"),
        (header(device="+1"), "device"),
        (header(device="1_0"), "device"),
        (header(device=str(2**32)), "device"),
        (header(timestamp="-5"), "timestamp"),
        (header(timestamp="1.5"), "timestamp"),
        (header(timestamp=" 1"), "timestamp"),
        (header(nonce="!!"), "nonce"),
        (header(nonce=base64.b64encode(b"n" * 15).decode()), "nonce must be 16 bytes"),
        (header(signature=base64.b64encode(b"s" * 63).decode()), "signature must be 64 bytes"),
        (header(signature="abc"), "signature is not base64"),
        (header() + " " * 2000, "too long"),
        ("Sottovoce-Signature address=alice", "malformed"),
    ],
)
def test_a_malformed_header_is_a_decode_error_naming_the_fault(value: str, fault: str) -> None:
    with pytest.raises(DecodeError, match=fault):
        parse_authorization_header(value)


def test_the_nonce_cache_refuses_a_nonce_twice_within_its_window() -> None:
    cache = NonceCache(window_ms=1_000)
    assert cache.check_and_remember("a@chat", 1, "n1", timestamp_ms=10_000, now_ms=10_000)
    assert not cache.check_and_remember("a@chat", 1, "n1", timestamp_ms=10_500, now_ms=10_900)
    # Another device, or another account, may use the same nonce.
    assert cache.check_and_remember("a@chat", 2, "n1", timestamp_ms=10_000, now_ms=10_000)
    assert cache.check_and_remember("b@chat", 1, "n1", timestamp_ms=10_000, now_ms=10_000)
    # Once the first request's timestamp has left the window the entry is dropped
    # (from then on the timestamp check alone refuses the replay).
    assert cache.check_and_remember("a@chat", 1, "n1", timestamp_ms=11_500, now_ms=11_001)
    assert len(cache) == 1


def test_a_full_nonce_cache_refuses_requests_instead_of_forgetting_nonces() -> None:
    cache = NonceCache(window_ms=1_000, max_entries=2)
    assert cache.check_and_remember("a@chat", 1, "n1", timestamp_ms=0, now_ms=0)
    assert cache.check_and_remember("a@chat", 1, "n2", timestamp_ms=0, now_ms=0)
    with pytest.raises(Problem) as full:
        cache.check_and_remember("a@chat", 1, "n3", timestamp_ms=0, now_ms=0)
    assert full.value.status == 503
    # The remembered nonces are still refused, and room returns as they expire.
    assert not cache.check_and_remember("a@chat", 1, "n1", timestamp_ms=0, now_ms=500)
    assert cache.check_and_remember("a@chat", 1, "n3", timestamp_ms=1_500, now_ms=1_001)
