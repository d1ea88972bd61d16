"""A raw device for relay tests: docs/api.md spoken directly, no SDK in between.

Each ``Device`` is bound to one httpx.AsyncClient, whether that client drives the
app in-process (ASGITransport) or the real server process over TCP, so the same
test helpers serve both.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx

from sottovoce.protocol.prekeys import (
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)
from tests.support.api_device import ApiDevice, b64

PROBLEM_JSON = "application/problem+json"
# Bodies the tests queue: recognisable bytes, so a test can look for them in a log.
CIPHERTEXT = b"opaque ciphertext the relay cannot read"


def unique_handle(prefix: str) -> str:
    """A fresh handle, so tests can share one server without colliding."""
    return f"{prefix}-{secrets.token_hex(4)}"


def assert_problem(
    response: httpx.Response, status: int, kind: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem document with this status (and type, if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    problem = response.json()
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    if kind is not None:
        assert problem["type"] == kind, problem
    return dict(problem)


def envelope(device_id: int = 1, body: bytes = CIPHERTEXT, kind: str = "message") -> dict[str, Any]:
    return {"device_id": device_id, "type": kind, "body": b64(body)}


class Device(ApiDevice):
    """Device 1 of a fresh account, bound to ``http``."""

    def __init__(self, http: httpx.AsyncClient, prefix: str = "dev", app: str = "chat") -> None:
        super().__init__(unique_handle(prefix), app)
        self.http = http

    async def call(self, method: str, path: str, payload: Any = None) -> httpx.Response:
        return await self.arequest(self.http, method, path, payload)

    async def register(self) -> Device:
        response = await self.call("POST", "/v1/accounts", self.registration())
        assert response.status_code == 201, response.text
        assert response.json() == {"address": self.address, "device_id": 1}
        return self

    def prekeys(
        self,
        *,
        one_time: int = 0,
        kem_one_time: int = 0,
        first_id: int = 1,
        signed: bool = True,
        last_resort: bool = True,
    ) -> dict[str, Any]:
        """A valid upload body: keys signed by this device's identity (PQXDH §3.2)."""
        body: dict[str, Any] = {"one_time_prekeys": [], "kem_one_time_prekeys": []}
        if signed:
            spk = generate_signed_prekey(self.identity, first_id)
            body["signed_prekey"] = {
                "id": spk.key_id,
                "public": b64(spk.public),
                "signature": b64(spk.signature),
            }
        if last_resort:
            (lr,) = generate_kem_prekeys(self.identity, first_id, 1, last_resort=True)
            body["kem_last_resort"] = {
                "id": lr.key_id,
                "public": b64(lr.public),
                "signature": b64(lr.signature),
            }
        if one_time:
            body["one_time_prekeys"] = [
                {"id": k.key_id, "public": b64(k.public)}
                for k in generate_one_time_prekeys(first_id, one_time)
            ]
        if kem_one_time:
            body["kem_one_time_prekeys"] = [
                {"id": k.key_id, "public": b64(k.public), "signature": b64(k.signature)}
                for k in generate_kem_prekeys(self.identity, first_id, kem_one_time)
            ]
        return body

    async def upload(self, body: dict[str, Any]) -> httpx.Response:
        return await self.call("PUT", "/v1/devices/self/prekeys", body)

    async def stock(self, one_time: int, kem_one_time: int | None = None) -> None:
        """Upload a signed prekey, a last-resort KEM key and one-time keys of each kind."""
        body = self.prekeys(
            one_time=one_time, kem_one_time=one_time if kem_one_time is None else kem_one_time
        )
        response = await self.upload(body)
        assert response.status_code == 200, response.text

    async def claim(self, address: str, device_ids: list[int] | None = None) -> httpx.Response:
        payload: dict[str, Any] = {"address": address}
        if device_ids is not None:
            payload["device_ids"] = device_ids
        return await self.call("POST", "/v1/keys/claim", payload)

    async def send(
        self,
        recipient: str,
        message_id: str,
        envelopes: list[dict[str, Any]] | None = None,
    ) -> httpx.Response:
        return await self.call(
            "POST",
            "/v1/messages",
            {
                "message_id": message_id,
                "recipient": recipient,
                "envelopes": [envelope()] if envelopes is None else envelopes,
            },
        )

    async def fetch(self, limit: int | None = None) -> dict[str, Any]:
        path = "/v1/messages" if limit is None else f"/v1/messages?limit={limit}"
        response = await self.call("GET", path)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def ack(self, ids: list[int]) -> int:
        response = await self.call("POST", "/v1/messages/ack", {"ids": ids})
        assert response.status_code == 200, response.text
        return int(response.json()["deleted"])


def body_of(message: dict[str, Any]) -> bytes:
    return base64.b64decode(message["body"], validate=True)
