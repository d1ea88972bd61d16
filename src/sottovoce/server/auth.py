"""Authenticating devices by their signed requests (docs/api.md)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public import request_auth
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.server.limits import CLOCK_SKEW_MS, MAX_DEVICE_ID
from sottovoce.server.problems import Problem
from sottovoce.storage.repository import DeviceRecord, Repository


def now_ms() -> int:
    return int(time.time() * 1000)


def today() -> int:
    return int(time.time() // 86_400)


class NonceCache:
    """Nonces seen within the clock-skew window, per device, so no request is accepted
    twice. Held in memory: a restart forgets it, but then the window (±5 minutes) is
    all a replay could use, and the timestamp check still bounds it."""

    def __init__(self, window_ms: int = CLOCK_SKEW_MS, max_entries: int = 1_000_000) -> None:
        self._seen: OrderedDict[tuple[str, int, str], int] = OrderedDict()
        self._window_ms = window_ms
        self._max_entries = max_entries

    def check_and_remember(self, address: str, device_id: int, nonce: str, now: int) -> bool:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now and len(self._seen) < self._max_entries:
                break
            del self._seen[key]
        key = (address, device_id, nonce)
        if key in self._seen:
            return False
        self._seen[key] = now + 2 * self._window_ms
        return True


@dataclass(frozen=True, slots=True)
class Authenticated:
    device: DeviceRecord


def split_address(address: str) -> tuple[str, str]:
    handle, sep, app = address.partition("@")
    if not sep or not handle or not app:
        raise Problem(400, "malformed-address", f"address {address!r} is not handle@app")
    return app, handle


def parse_header(value: str | None) -> request_auth.ParsedAuthorization:
    if not value:
        raise Problem(401, "unauthenticated", "the request carries no Authorization header")
    try:
        return request_auth.parse_authorization_header(value)
    except ProtocolError as exc:
        raise Problem(401, "unauthenticated", str(exc)) from exc


def check_signature(
    parsed: request_auth.ParsedAuthorization,
    identity: bytes,
    nonces: NonceCache,
    method: str,
    path_with_query: str,
    body: bytes,
) -> None:
    """Timestamp window, signature, then nonce — in that order, so an attacker cannot
    burn a victim's nonces with unsigned junk."""
    now = now_ms()
    if abs(now - parsed.timestamp_ms) > CLOCK_SKEW_MS:
        raise Problem(401, "stale-request", "request timestamp is outside the ±300 s window")
    try:
        request_auth.verify_request(
            parsed, PublicIdentity.from_bytes(identity).sign_public, method, path_with_query, body
        )
    except ProtocolError as exc:
        raise Problem(401, "bad-signature", str(exc)) from exc
    if not nonces.check_and_remember(parsed.address, parsed.device_id, parsed.nonce_b64, now):
        raise Problem(401, "replayed-request", "this request nonce was already used")


async def authenticate(
    repo: Repository,
    nonces: NonceCache,
    header: str | None,
    method: str,
    path_with_query: str,
    body: bytes,
) -> Authenticated:
    parsed = parse_header(header)
    app, handle = split_address(parsed.address)
    in_range = 1 <= parsed.device_id <= MAX_DEVICE_ID
    device = await repo.device(app, handle, parsed.device_id) if in_range else None
    if device is None:
        raise Problem(401, "unknown-device", f"{parsed.address} has no device {parsed.device_id}")
    check_signature(parsed, device.identity, nonces, method, path_with_query, body)
    return Authenticated(device)
