"""A bare device that speaks docs/api.md directly (no SDK), for server-side tests."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import httpx

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.protocol.public.request_auth import authorization_header


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def signed_headers(
    key: SigningKey,
    address: str,
    method: str,
    path: str,
    body: bytes,
    *,
    device_id: int = 1,
    timestamp_ms: int | None = None,
) -> dict[str, str]:
    """Headers exactly as the SDK signs them; the timestamp can be forged."""
    header = authorization_header(
        key,
        method,
        path,
        address,
        device_id,
        body,
        timestamp_ms=int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        nonce_b64=b64(os.urandom(16)),
    )
    return {"authorization": header, "content-type": "application/json"}


class ApiDevice:
    """Device 1 of a fresh account; ``request`` works with a sync or async httpx client."""

    def __init__(self, handle: str, app: str) -> None:
        self.address = f"{handle}@{app}"
        self.handle, self.app = handle, app
        self.identity = IdentityKeyPair.generate()
        self.account_key = SigningKey.generate()

    def registration(self) -> dict[str, str]:
        device_list = DeviceList(self.address, 1, (DeviceEntry(1, self.identity.public, 0),))
        return {
            "app": self.app,
            "handle": self.handle,
            "account_key": b64(self.account_key.public),
            "identity": b64(self.identity.public.to_bytes()),
            "device_list": b64(device_list.sign(self.account_key)),
        }

    def build(
        self, http: httpx.Client | httpx.AsyncClient, method: str, path: str, payload: Any
    ) -> httpx.Request:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = signed_headers(self.identity.signing_key, self.address, method, path, body)
        return http.build_request(method, path, content=body, headers=headers)

    def request(
        self, http: httpx.Client, method: str, path: str, payload: Any = None
    ) -> httpx.Response:
        return http.send(self.build(http, method, path, payload))

    async def arequest(
        self, http: httpx.AsyncClient, method: str, path: str, payload: Any = None
    ) -> httpx.Response:
        return await http.send(self.build(http, method, path, payload))
