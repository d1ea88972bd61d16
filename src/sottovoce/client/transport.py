"""Signed HTTP requests and the WebSocket, as docs/api.md defines them.

Every request carries a ``Sottovoce-Signature`` header made with this device's
Ed25519 identity key over method, path, address, device, timestamp, a fresh
nonce and the body's hash (``protocol.public.request_auth``). Failures become
SDK errors: :class:`NetworkError` when the server cannot be reached,
:class:`ServerError` for its problem documents, :class:`MalformedResponse` for
an answer that is not a JSON object.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from sottovoce.client.errors import MalformedResponse, NetworkError, ServerError
from sottovoce.client.live_connection import BATCHES, LiveConnection
from sottovoce.client.server_json import b64
from sottovoce.crypto.random import random_bytes
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.request_auth import NONCE_LEN, authorization_header

# One round trip, generous for a slow mobile link, yet far inside the ±300 s the
# server accepts a signed request's timestamp, so retries stay valid.
REQUEST_TIMEOUT_S = 15.0
# One WebSocket frame carries one delivered envelope, at most 64 KiB of ciphertext
# (server.limits.MAX_ENVELOPE_BYTES) base64-inflated by 4/3 plus JSON framing, or
# a batch of them (server.limits.MAX_SERVER_BATCH_BYTES, 256 KiB, and one more).
MAX_FRAME_BYTES = 1024 * 1024
WEBSOCKET_PATH = "/v1/ws"
# An idle pooled connection is dropped after this long. uvicorn closes idle
# keep-alive connections after 5 s; reusing one at that moment fails the request
# (RemoteProtocolError), so the client gives them up well before the server does.
KEEPALIVE_EXPIRY_S = 2.0
# The upgrade's 4xx answers that retrying cannot fix (authentication refused).
_RETRYABLE_UPGRADE_STATUSES = frozenset({408, 429})
# Requests the server applies at most once however often they arrive: reads, a
# message (stored once per message_id) and an acknowledgement (it deletes what is
# still queued). Only these are sent again when a pooled connection turns out to
# have been closed by the server as the request went out.
_REPEATABLE_POSTS = frozenset({"/v1/messages", "/v1/messages/ack"})
# What httpx raises when the server had closed a kept-alive connection: it sent
# no answer, so the request can be sent again on a new connection.
_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError)
# A 503 (the server lost its database connection, or is at a bound) says when to
# try again (Retry-After, RFC 9110 §10.2.3); a repeatable request waits that long,
# at most this, and goes once more.
MAX_RETRY_AFTER_S = 5.0


def _repeatable(method: str, path: str) -> bool:
    return method == "GET" or (method == "POST" and path.split("?")[0] in _REPEATABLE_POSTS)


def _retry_after_s(response: httpx.Response) -> float:
    """Retry-After in seconds (the delay form; a date or nonsense counts as 1 s)."""
    try:
        seconds = float(response.headers.get("retry-after", "1"))
    except ValueError:
        seconds = 1.0
    if not math.isfinite(seconds):
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _server_error(response: httpx.Response) -> ServerError:
    """An RFC 9457 problem document as a ServerError (or the bare status if it is not one)."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return ServerError(response.status_code, "error", response.reason_phrase or "error")
    return ServerError(
        response.status_code,
        str(problem.get("type", "error")),
        str(problem.get("detail", response.reason_phrase)),
        problem,
    )


def _json_answer(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise _server_error(response)
    try:
        answer = response.json()
    except ValueError as exc:
        raise MalformedResponse(f"the answer to {method} {path} is not JSON") from exc
    if not isinstance(answer, dict):
        raise MalformedResponse(f"the answer to {method} {path} is not a JSON object")
    return answer


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process, as httpx would build it (certifi's CA bundle, or
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``): building one reads the bundle, about 24 ms
    of CPU, and every Transport (one per Client, one per CLI command) and auditor
    would otherwise build its own."""
    return httpx.create_ssl_context()


class Transport:
    def __init__(self, server_url: str, address: str, device_id: int, key: SigningKey) -> None:
        self.server_url = server_url.rstrip("/")
        self.address = address
        self.device_id = device_id
        self._key = key
        self._http = httpx.AsyncClient(
            base_url=self.server_url,
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S),
            verify=tls_context(),
        )
        self._live: LiveConnection | None = None

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

    async def request(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        """One signed request; ``path`` includes the query, exactly as it is signed."""
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = {} if payload is None else {"content-type": "application/json"}

        async def send() -> httpx.Response:
            # Signed for each sending: the server accepts a nonce once.
            headers["authorization"] = self._authorization(method, path, body)
            return await self._http.request(method, path, content=body, headers=headers)

        try:
            try:
                response = await send()
            except _STALE_CONNECTION:
                # A client busy elsewhere can take a pooled connection just as the
                # server's keep-alive timer closes it (KEEPALIVE_EXPIRY_S only
                # narrows that window).
                if not _repeatable(method, path):
                    raise
                response = await send()
            if response.status_code == 503 and _repeatable(method, path):
                await asyncio.sleep(_retry_after_s(response))
                response = await send()
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach {self.server_url}: {type(exc).__name__}") from exc
        return _json_answer(response, method, path)

    async def request_bytes(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, Any]:
        """A signed request with a binary body (a blob segment, ``client.attachments``)."""
        headers = {
            **headers,
            "authorization": self._authorization(method, path, body),
            "content-type": "application/octet-stream",
            "content-length": str(len(body)),
        }
        # A one-shot stream hands httpx the body without its request object holding
        # it: httpx leaves requests in reference cycles until the collector runs, and
        # each would keep a multi-MiB segment alive (an upload's memory would grow).
        pending = [body]
        del body

        async def once() -> AsyncIterator[bytes]:
            yield pending.pop()

        try:
            response = await self._http.request(method, path, content=once(), headers=headers)
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach {self.server_url}: {type(exc).__name__}") from exc
        return _json_answer(response, method, path)

    async def stream(self, path: str) -> AsyncIterator[bytes]:
        """A signed GET whose binary answer is read as it arrives (a blob download)."""
        headers = {"authorization": self._authorization("GET", path, b"")}
        try:
            async with self._http.stream("GET", path, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    _json_answer(response, "GET", path)  # raises the server's problem
                    raise MalformedResponse(f"the answer to GET {path} is not a blob")
                async for data in response.aiter_bytes():
                    yield data
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach {self.server_url}: {type(exc).__name__}") from exc

    async def unsigned_request(
        self, method: str, path: str, payload: Any, headers: dict[str, str]
    ) -> dict[str, Any]:
        """A request that does not say who makes it (a sealed send, ``client.sealed``):
        no signature, authorised by ``headers`` alone."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {**headers, "content-type": "application/json"}
        try:
            response = await self._http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach {self.server_url}: {type(exc).__name__}") from exc
        return _json_answer(response, method, path)

    async def send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """One message (the body of ``POST /v1/messages``): a ``send`` frame on the
        live connection while one is open, else the signed HTTP request. Both give
        the same answer and the same errors."""
        live = self._live
        if live is not None and live.open:
            return await live.send_message(body)
        return await self.request("POST", "/v1/messages", body)

    async def connect_websocket(self) -> LiveConnection:
        """The authenticated live connection; sends use it while it is open. A
        refused upgrade that retrying cannot fix raises :class:`ServerError`;
        anything transient :class:`NetworkError`."""
        connection = await self._open_websocket()
        self._live = LiveConnection(connection, self._forget_live)
        return self._live

    def _forget_live(self, live: LiveConnection) -> None:
        if self._live is live:
            self._live = None

    async def _open_websocket(self) -> ClientConnection:
        url = "ws" + self.server_url.removeprefix("http") + WEBSOCKET_PATH
        try:
            return await websockets.connect(
                url,
                additional_headers={
                    "authorization": self._authorization("GET", WEBSOCKET_PATH, b"")
                },
                max_size=MAX_FRAME_BYTES,
                open_timeout=REQUEST_TIMEOUT_S,
                subprotocols=[BATCHES],
            )
        except websockets.exceptions.InvalidStatus as exc:
            status = exc.response.status_code
            if 400 <= status < 500 and status not in _RETRYABLE_UPGRADE_STATUSES:
                raise ServerError(
                    status, "websocket-refused", "the server refused the live connection"
                ) from exc
            raise NetworkError(f"the live connection to {self.server_url} failed") from exc
        except (OSError, websockets.exceptions.WebSocketException) as exc:
            raise NetworkError(f"cannot open the live connection to {self.server_url}") from exc

    async def close(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"Transport({self.server_url}, {self.address}, device {self.device_id})"
