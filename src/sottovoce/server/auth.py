"""Authenticating devices by their signed requests (docs/api.md)."""

from __future__ import annotations

import functools
import heapq
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public import request_auth
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.server import limits
from sottovoce.server.problems import Problem
from sottovoce.storage.repository import DeviceRecord, Repository

if TYPE_CHECKING:  # redis-py is loaded only on a node that joins others (server.cluster)
    from sottovoce.server.shared_limits import SharedLimits


def now_ms() -> int:
    return int(time.time() * 1000)


def today() -> int:
    return int(time.time() // 86_400)


class NonceCache:
    """The nonces of accepted requests, so that none is accepted twice (docs/api.md).

    A nonce is kept until its request's timestamp leaves the skew window; from then
    on the timestamp check refuses a replay by itself. Held in memory: a restart
    forgets it, which a replay could only exploit within that same window. When
    full, new requests are refused rather than an unexpired nonce forgotten.
    """

    def __init__(
        self,
        window_ms: int = limits.NONCE_WINDOW_MS,
        max_entries: int = limits.MAX_REMEMBERED_NONCES,
    ) -> None:
        self._window_ms = window_ms
        self._max_entries = max_entries
        self._expires: dict[tuple[str, int, str], int] = {}
        self._by_expiry: list[tuple[int, tuple[str, int, str]]] = []
        # With Redis (many nodes), a nonce must also be new to every other node.
        self.shared: SharedLimits | None = None

    def __len__(self) -> int:
        return len(self._expires)

    def check_and_remember(
        self, address: str, device_id: int, nonce: str, timestamp_ms: int, now_ms: int
    ) -> bool:
        """False if this device already used ``nonce`` within the window."""
        while self._by_expiry and self._by_expiry[0][0] < now_ms:
            _, key = heapq.heappop(self._by_expiry)
            del self._expires[key]
        key = (address, device_id, nonce)
        if key in self._expires:
            return False
        if len(self._expires) >= self._max_entries:
            raise Problem(503, "busy", "the server is at its replay-cache bound; retry shortly")
        expires = timestamp_ms + self._window_ms
        self._expires[key] = expires
        heapq.heappush(self._by_expiry, (expires, key))
        return True


@dataclass(frozen=True, slots=True)
class Authenticated:
    device: DeviceRecord
    # The account's standing (storage.safety), read with the device in one statement.
    standing: str


def split_address(address: str) -> tuple[str, str]:
    handle, sep, app = address.partition("@")
    if not sep or not handle or not app:
        raise Problem(400, "malformed-address", f"address {address!r} is not handle@app")
    return app, handle


# Distinct identities whose verified signing key is kept: every active device of a
# small community, so a request costs one signature check, not two.
IDENTITY_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=IDENTITY_CACHE_SIZE)
def signing_key_of(identity: bytes) -> bytes:
    """The Ed25519 key of a stored public identity, its binding checked once."""
    return PublicIdentity.from_bytes(identity).sign_public


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
    if abs(now - parsed.timestamp_ms) > limits.CLOCK_SKEW_MS:
        raise Problem(
            401,
            "stale-request",
            f"request timestamp is more than {limits.CLOCK_SKEW_MS // 1000} s off the server clock",
        )
    try:
        request_auth.verify_request(parsed, signing_key_of(identity), method, path_with_query, body)
    except ProtocolError as exc:
        raise Problem(401, "bad-signature", str(exc)) from exc
    if not nonces.check_and_remember(
        parsed.address, parsed.device_id, parsed.nonce_b64, parsed.timestamp_ms, now
    ):
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
    found = await repo.device_and_standing(app, handle, parsed.device_id)
    if found is None:
        raise Problem(401, "unknown-device", f"{parsed.address} has no device {parsed.device_id}")
    device, standing = found
    check_signature(parsed, device.identity, nonces, method, path_with_query, body)
    if nonces.shared is not None and not await nonces.shared.first_use(
        parsed.address,
        parsed.device_id,
        parsed.nonce_b64,
        parsed.timestamp_ms + limits.NONCE_WINDOW_MS - now_ms(),
    ):
        raise Problem(401, "replayed-request", "this request nonce was already used")
    return Authenticated(device, standing)
