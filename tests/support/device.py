"""A bare device for server tests: docs/api.md spoken directly, no client SDK in between.

Its identity is built the way ``protocol.public.identity`` describes it (an Ed25519
key that signs a binding over an X25519 key), its requests are signed with
``protocol.public.request_auth``, and its prekeys are signed per
``protocol.public.prekeys``. Every request can be bent (timestamp, nonce, body,
signer) so that tests can forge exactly one thing at a time.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import httpx

from sottovoce.crypto import dh, kem
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.protocol.public.identity import PublicIdentity, binding_message
from sottovoce.protocol.public.prekeys import PrekeyKind, prekey_signature_message
from sottovoce.protocol.public.request_auth import NONCE_LEN, authorization_header

ACCOUNTS = "/v1/accounts"
PREKEYS = "/v1/devices/self/prekeys"
CLAIM = "/v1/keys/claim"
MESSAGES = "/v1/messages"
ACK = "/v1/messages/ack"
WEBSOCKET = "/v1/ws"
PROBLEM_JSON = "application/problem+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fresh_handle(prefix: str = "d") -> str:
    """A handle no other test uses, so tests can share one server."""
    return f"{prefix}{secrets.token_hex(5)}"


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_problem(response: httpx.Response, status: int, kind: str | None = None) -> Any:
    """The response is an RFC 9457 problem document with this status (and type)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"], problem
    if kind is not None:
        assert problem["type"] == kind, problem
    return problem


class BareDevice:
    """Device 1 of an account that does not exist until :meth:`register`."""

    def __init__(self, handle: str | None = None, app: str = "chat") -> None:
        self.handle = handle or fresh_handle()
        self.app = app
        self.signing_key = SigningKey.generate()
        dh_public = dh.DHKeyPair.generate().public
        self.identity = PublicIdentity(
            self.signing_key.public, dh_public, self.signing_key.sign(binding_message(dh_public))
        )
        self.account_key = SigningKey.generate()
        self.device_id = 1
        self._next_key_id = 1

    @property
    def address(self) -> str:
        return f"{self.handle}@{self.app}"

    # -- account ----------------------------------------------------------------

    def device_list(self, *, version: int = 1, signer: SigningKey | None = None) -> bytes:
        devices = DeviceList(self.address, version, (DeviceEntry(1, self.identity, 0),))
        return devices.sign(signer or self.account_key)

    def registration(self, **overrides: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "app": self.app,
            "handle": self.handle,
            "account_key": b64(self.account_key.public),
            "identity": b64(self.identity.to_bytes()),
            "device_list": b64(self.device_list()),
        }
        payload.update(overrides)
        return payload

    async def register(self, http: httpx.AsyncClient) -> BareDevice:
        response = await self.call(http, "POST", ACCOUNTS, self.registration())
        assert response.status_code == 201, response.text
        return self

    # -- signed requests ----------------------------------------------------------

    def authorization(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        timestamp_ms: int | None = None,
        nonce_b64: str | None = None,
        signer: SigningKey | None = None,
    ) -> str:
        return authorization_header(
            signer or self.signing_key,
            method,
            path,
            self.address,
            self.device_id,
            body,
            timestamp_ms=now_ms() if timestamp_ms is None else timestamp_ms,
            nonce_b64=nonce_b64 or b64(secrets.token_bytes(NONCE_LEN)),
        )

    def build(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        payload: Any = None,
        *,
        content: bytes | None = None,
        **signing: Any,
    ) -> httpx.Request:
        """A signed request; ``content`` sends raw bytes instead of JSON."""
        body = content if content is not None else b""
        if content is None and payload is not None:
            body = json.dumps(payload).encode()
        headers = {
            "authorization": self.authorization(method, path, body, **signing),
            "content-type": "application/json",
        }
        return http.build_request(method, path, content=body, headers=headers)

    async def call(
        self, http: httpx.AsyncClient, method: str, path: str, payload: Any = None, **kw: Any
    ) -> httpx.Response:
        return await http.send(self.build(http, method, path, payload, **kw))

    # -- prekeys ------------------------------------------------------------------

    def _key_id(self) -> int:
        self._next_key_id += 1
        return self._next_key_id - 1

    def _signed_key(self, kind: PrekeyKind, public: bytes) -> dict[str, Any]:
        key_id = self._key_id()
        signature = self.signing_key.sign(prekey_signature_message(kind, key_id, public))
        return {"id": key_id, "public": b64(public), "signature": b64(signature)}

    def prekeys(
        self, one_time: int = 0, kem_one_time: int = 0, *, with_signed: bool = True
    ) -> dict[str, Any]:
        """An upload body with fresh key ids: real X25519 and ML-KEM-1024 public keys."""
        payload: dict[str, Any] = {
            "one_time_prekeys": [
                {"id": self._key_id(), "public": b64(dh.DHKeyPair.generate().public)}
                for _ in range(one_time)
            ],
            "kem_one_time_prekeys": [
                self._signed_key(PrekeyKind.KEM_ONE_TIME, kem.KemKeyPair.generate().public)
                for _ in range(kem_one_time)
            ],
        }
        if with_signed:
            payload["signed_prekey"] = self._signed_key(
                PrekeyKind.SIGNED_EC, dh.DHKeyPair.generate().public
            )
            payload["kem_last_resort"] = self._signed_key(
                PrekeyKind.KEM_LAST_RESORT, kem.KemKeyPair.generate().public
            )
        return payload

    # -- messages -----------------------------------------------------------------

    @staticmethod
    def send_body(
        recipient: str, device_ids: tuple[int, ...] = (1,), body: bytes = b"\x01ciphertext"
    ) -> dict[str, Any]:
        return {
            "message_id": secrets.token_hex(8),
            "recipient": recipient,
            "envelopes": [
                {"device_id": d, "type": "message", "body": b64(body)} for d in device_ids
            ],
        }
