"""Signed HTTP requests and the WebSocket, as docs/api.md defines them."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from sottovoce.client.errors import NetworkError, ServerError
from sottovoce.crypto.random import random_bytes
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.request_auth import NONCE_LEN, authorization_header

REQUEST_TIMEOUT_S = 15.0


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class Transport:
    def __init__(self, server_url: str, address: str, device_id: int, key: SigningKey) -> None:
        self.server_url = server_url.rstrip("/")
        self.address = address
        self.device_id = device_id
        self._key = key
        self._http = httpx.AsyncClient(base_url=self.server_url, timeout=REQUEST_TIMEOUT_S)

    def _authorization(self, method: str, path: str, body: bytes) -> str:
        return authorization_header(
            self._key,
            method,
            path,
            self.address,
            self.device_id,
            body,
            timestamp_ms=int(time.time() * 1000),
            nonce_b64=b64(random_bytes(NONCE_LEN)),
        )

    async def request(self, method: str, path: str, payload: Any = None) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"authorization": self._authorization(method, path, body)}
        if payload is not None:
            headers["content-type"] = "application/json"
        try:
            response = await self._http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach {self.server_url}: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise problem_error(response)
        return response.json()

    async def connect_websocket(self) -> ClientConnection:
        path = "/v1/ws"
        url = "ws" + self.server_url[len("http") :] + path
        try:
            return await websockets.connect(
                url,
                additional_headers={"authorization": self._authorization("GET", path, b"")},
                max_size=2**20,
                open_timeout=REQUEST_TIMEOUT_S,
            )
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            raise NetworkError(f"cannot open the live connection to {self.server_url}") from exc

    async def close(self) -> None:
        await self._http.aclose()


def problem_error(response: httpx.Response) -> ServerError:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return ServerError(response.status_code, "error", response.reason_phrase)
    return ServerError(
        response.status_code,
        str(problem.get("type", "error")),
        str(problem.get("detail", response.reason_phrase)),
        problem,
    )


async def register(server_url: str, key: SigningKey, address: str, payload: Any) -> Any:
    """``POST /v1/accounts``, signed by the new device's key (proof of possession)."""
    transport = Transport(server_url, address, 1, key)
    try:
        return await transport.request("POST", "/v1/accounts", payload)
    finally:
        await transport.close()
