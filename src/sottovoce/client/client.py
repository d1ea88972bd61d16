"""The Client: one device of one account, usable by any program without the CLI."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import websockets

from sottovoce.client.address import Address
from sottovoce.client.content import ContentError, TextContent, decode_content
from sottovoce.client.errors import (
    ClientError,
    IdentityChanged,
    InvalidAddress,
    NetworkError,
    ProfileError,
    SecurityError,
    ServerError,
    UnknownAccount,
)
from sottovoce.client.prekey_store import StorePreKeys
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport, b64, register, unb64
from sottovoce.crypto.password import Argon2Parameters
from sottovoce.crypto.random import random_bytes
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import (
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList, parse_device_list
from sottovoce.protocol.session import Session
from sottovoce.protocol.wire import MessageType, message_type

log = logging.getLogger("sottovoce.client")

# Signal uploads 100 one-time prekeys at a time; the server asks for more below 20.
PREKEY_BATCH = 100
FETCH_PAGE = 100
SEND_ATTEMPTS = 3
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str
    recipient: str
    text: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    message_id: str
    sender: str
    sender_device: int
    text: str
    sent_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    message_id: str
    peer: str
    direction: str
    text: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    peer: str
    last_text: str
    last_timestamp: datetime
    unread: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _today() -> int:
    return int(time.time() // 86_400)


class Client:
    def __init__(self, store: Store, profile: dict[str, Any], identity: IdentityKeyPair) -> None:
        self._store = store
        self._profile = profile
        self._identity = identity
        self._prekeys = StorePreKeys(store)
        self._transport = Transport(
            profile["server_url"], profile["address"], profile["device_id"], identity.signing_key
        )

    # -- lifecycle -------------------------------------------------------------

    @classmethod
    async def create_account(
        cls,
        profile_dir: Path,
        server_url: str,
        app: str,
        handle: str,
        *,
        passphrase: str | None = None,
        argon2: Argon2Parameters | None = None,
    ) -> Client:
        address = str(Address.parse(f"{handle}@{app}"))
        Store.ensure_absent(profile_dir)
        identity = IdentityKeyPair.generate()
        account_key = SigningKey.generate()
        device_list = DeviceList(address, 1, (DeviceEntry(1, identity.public, _today()),))
        await register(
            server_url,
            identity.signing_key,
            address,
            {
                "app": app,
                "handle": handle,
                "account_key": b64(account_key.public),
                "identity": b64(identity.public.to_bytes()),
                "device_list": b64(device_list.sign(account_key)),
            },
        )
        store = Store.create(profile_dir, passphrase, argon2)
        profile = {
            "address": address,
            "device_id": 1,
            "server_url": server_url.rstrip("/"),
            "next_one_time_id": 1,
            "next_kem_id": 1,
            "signed_prekey_id": 1,
        }
        with store.transaction():
            store.put_json("profile", "self", profile)
            store.put("identity", "self", identity.to_bytes())
            store.put("account_key", "self", account_key.private_bytes())
        client = cls(store, profile, identity)
        await client._upload_initial_prekeys()
        return client

    @classmethod
    async def open(cls, profile_dir: Path, *, passphrase: str | None = None) -> Client:
        store = Store.open(profile_dir, passphrase)
        profile = store.get_json("profile", "self")
        identity = store.get("identity", "self")
        if profile is None or identity is None:
            store.close()
            raise ProfileError(f"the profile in {profile_dir} has no account")
        return cls(store, profile, IdentityKeyPair.from_bytes(identity))

    async def close(self) -> None:
        await self._transport.close()
        self._store.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def address(self) -> str:
        return str(self._profile["address"])

    @property
    def device_id(self) -> int:
        return int(self._profile["device_id"])

    @property
    def server_url(self) -> str:
        return str(self._profile["server_url"])

    def __repr__(self) -> str:
        return f"Client({self.address}, device {self.device_id})"

    # -- prekeys ---------------------------------------------------------------

    async def _upload_initial_prekeys(self) -> None:
        signed = generate_signed_prekey(self._identity, self._profile["signed_prekey_id"])
        with self._store.transaction():
            self._prekeys.save_signed(signed)
            last_resort_id = self._allocate("next_kem_id", 1)
            (last_resort,) = generate_kem_prekeys(
                self._identity, last_resort_id, 1, last_resort=True
            )
            self._prekeys.save_kem(last_resort)
        await self._transport.request(
            "PUT",
            "/v1/devices/self/prekeys",
            {
                "signed_prekey": {
                    "id": signed.key_id,
                    "public": b64(signed.public),
                    "signature": b64(signed.signature),
                },
                "kem_last_resort": {
                    "id": last_resort.key_id,
                    "public": b64(last_resort.public),
                    "signature": b64(last_resort.signature),
                },
            },
        )
        await self.replenish_prekeys()

    def _allocate(self, counter: str, count: int) -> int:
        first = int(self._profile[counter])
        self._profile[counter] = first + count
        self._store.put_json("profile", "self", self._profile)
        return first

    async def replenish_prekeys(self) -> None:
        """Top the server's one-time prekeys back up to a full batch of each kind."""
        status = await self._transport.request("GET", "/v1/devices/self/prekeys")
        need_ec = PREKEY_BATCH - int(status["one_time_prekeys"])
        need_kem = PREKEY_BATCH - int(status["kem_one_time_prekeys"])
        if need_ec <= 0 and need_kem <= 0:
            return
        with self._store.transaction():
            one_time = (
                generate_one_time_prekeys(self._allocate("next_one_time_id", need_ec), need_ec)
                if need_ec > 0
                else []
            )
            kem_keys = (
                generate_kem_prekeys(
                    self._identity, self._allocate("next_kem_id", need_kem), need_kem
                )
                if need_kem > 0
                else []
            )
            for key in one_time:
                self._prekeys.save_one_time(key)
            for kem_key in kem_keys:
                self._prekeys.save_kem(kem_key)
        await self._transport.request(
            "PUT",
            "/v1/devices/self/prekeys",
            {
                "one_time_prekeys": [{"id": k.key_id, "public": b64(k.public)} for k in one_time],
                "kem_one_time_prekeys": [
                    {"id": k.key_id, "public": b64(k.public), "signature": b64(k.signature)}
                    for k in kem_keys
                ],
            },
        )

    # -- contacts: pinning and device lists --------------------------------------

    async def _contact(self, address: str, *, refresh: bool = False) -> DeviceList:
        """The contact's verified device list. The account key is pinned on first
        contact (trust on first use); a different key later raises IdentityChanged
        and is kept aside until the user accepts it with :meth:`trust_identity`."""
        pinned = self._store.get_json("contact", address)
        if pinned is not None and not refresh and pinned.get("changed_key") is None:
            return parse_device_list(unb64(str(pinned["device_list"])), unb64(str(pinned["key"])))
        target = Address.parse(address)
        try:
            view = await self._transport.request(
                "GET", f"/v1/accounts/{target.app}/{target.handle}"
            )
        except ServerError as exc:
            if exc.status == 404:
                raise UnknownAccount(address) from exc
            raise
        key, signed_list = unb64(view["account_key"]), unb64(view["device_list"])
        try:
            devices = parse_device_list(signed_list, key)
        except ProtocolError as exc:
            raise SecurityError(f"the server sent a device list for {address} that {exc}") from exc
        if devices.address != address:
            raise SecurityError(f"the server sent a device list for another account as {address}")
        if pinned is not None and unb64(str(pinned["key"])) != key:
            pinned["changed_key"] = b64(key)
            pinned["changed_device_list"] = b64(signed_list)
            self._store.put_json("contact", address, pinned)
            raise IdentityChanged(address)
        if pinned is not None and devices.version < int(str(pinned["version"])):
            raise SecurityError(f"the server replayed an older device list for {address}")
        self._store.put_json(
            "contact",
            address,
            {"key": b64(key), "device_list": b64(signed_list), "version": devices.version},
        )
        return devices

    def trust_identity(self, peer: str) -> None:
        """Accept a contact's changed identity after checking it out of band."""
        pinned = self._store.get_json("contact", str(Address.parse(peer)))
        if pinned is None or pinned.get("changed_key") is None:
            raise ClientError(f"the identity of {peer} has not changed; nothing to trust")
        devices = parse_device_list(
            unb64(str(pinned["changed_device_list"])), unb64(str(pinned["changed_key"]))
        )
        old = parse_device_list(unb64(str(pinned["device_list"])), unb64(str(pinned["key"])))
        with self._store.transaction():
            # Sessions with devices whose identity changed are dead; keep the rest.
            for entry in old.devices:
                current = devices.device(entry.device_id)
                if current is None or current.identity != entry.identity:
                    self._store.delete("session", f"{peer}/{entry.device_id}")
            self._store.put_json(
                "contact",
                peer,
                {
                    "key": pinned["changed_key"],
                    "device_list": pinned["changed_device_list"],
                    "version": devices.version,
                },
            )

    # -- sending ---------------------------------------------------------------

    async def send(self, recipient: str, text: str) -> SentMessage:
        recipient = str(Address.parse(recipient))
        if recipient == self.address:
            raise InvalidAddress("sending to yourself is not supported yet")
        message_id = base64.urlsafe_b64encode(random_bytes(16)).decode().rstrip("=")
        sent_at = _now_ms()
        plaintext = TextContent(message_id, text, sent_at).encode()
        for attempt in range(SEND_ATTEMPTS):
            devices = await self._contact(recipient, refresh=attempt > 0)
            envelopes = await self._encrypt_for(recipient, devices, plaintext)
            try:
                await self._post_message(message_id, recipient, envelopes)
                break
            except ServerError as exc:
                if exc.problem_type != "stale-devices" or attempt == SEND_ATTEMPTS - 1:
                    raise
        with self._store.transaction():
            self._record(recipient, message_id, "out", text, sent_at, read=True)
        return SentMessage(message_id, recipient, text, _dt(sent_at))

    async def _post_message(
        self, message_id: str, recipient: str, envelopes: list[dict[str, Any]]
    ) -> None:
        """Post with retries on network failure; the same message id makes a retry
        of an already-stored message a no-op on the server."""
        body = {"message_id": message_id, "recipient": recipient, "envelopes": envelopes}
        for attempt in range(SEND_ATTEMPTS):
            try:
                await self._transport.request("POST", "/v1/messages", body)
                return
            except NetworkError:
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)

    async def _encrypt_for(
        self, recipient: str, devices: DeviceList, plaintext: bytes
    ) -> list[dict[str, Any]]:
        sessions: dict[int, Session] = {}
        for entry in devices.devices:
            raw = self._store.get("session", f"{recipient}/{entry.device_id}")
            if raw is not None:
                session = Session.from_bytes(raw)
                if session.remote_identity == entry.identity:
                    sessions[entry.device_id] = session
        missing = [e.device_id for e in devices.devices if e.device_id not in sessions]
        if missing:
            sessions.update(await self._start_sessions(recipient, devices, missing))
        envelopes = []
        with self._store.transaction():
            for device_id, session in sorted(sessions.items()):
                ciphertext = session.encrypt(plaintext)
                kind = "prekey" if message_type(ciphertext) is MessageType.PREKEY else "message"
                envelopes.append({"device_id": device_id, "type": kind, "body": b64(ciphertext)})
                self._store.put("session", f"{recipient}/{device_id}", session.to_bytes())
        return envelopes

    async def _start_sessions(
        self, recipient: str, devices: DeviceList, device_ids: list[int]
    ) -> dict[int, Session]:
        claim = await self._transport.request(
            "POST", "/v1/keys/claim", {"address": recipient, "device_ids": device_ids}
        )
        sessions = {}
        for raw in claim["bundles"]:
            entry = devices.device(int(raw["device_id"]))
            if entry is None or unb64(raw["identity"]) != entry.identity.to_bytes():
                raise SecurityError(
                    f"the server sent a key for {recipient} that its owner did not sign"
                )
            one_time = raw.get("one_time_prekey")
            bundle = PreKeyBundle(
                identity=entry.identity,
                signed_prekey_id=int(raw["signed_prekey"]["id"]),
                signed_prekey=unb64(raw["signed_prekey"]["public"]),
                signed_prekey_signature=unb64(raw["signed_prekey"]["signature"]),
                kem_prekey_id=int(raw["kem_prekey"]["id"]),
                kem_prekey=unb64(raw["kem_prekey"]["public"]),
                kem_prekey_signature=unb64(raw["kem_prekey"]["signature"]),
                kem_prekey_last_resort=bool(raw["kem_prekey"]["last_resort"]),
                one_time_prekey_id=None if one_time is None else int(one_time["id"]),
                one_time_prekey=None if one_time is None else unb64(one_time["public"]),
            )
            try:
                sessions[entry.device_id] = Session.initiate(self._identity, bundle)
            except ProtocolError as exc:
                raise SecurityError(f"a prekey bundle for {recipient} is invalid: {exc}") from exc
        absent = set(device_ids) - sessions.keys()
        if absent:
            raise ClientError(f"{recipient} has devices without prekeys: {sorted(absent)}")
        return sessions

    # -- receiving -------------------------------------------------------------

    async def fetch(self) -> list[ReceivedMessage]:
        """Pull queued messages, decrypt, store, acknowledge; return the new ones."""
        received: list[ReceivedMessage] = []
        while True:
            page = await self._transport.request("GET", f"/v1/messages?limit={FETCH_PAGE}")
            acks = []
            for envelope in page["messages"]:
                message, ack = await self._process(envelope)
                if ack:
                    acks.append(int(envelope["id"]))
                if message is not None:
                    received.append(message)
            if acks:
                await self._transport.request("POST", "/v1/messages/ack", {"ids": acks})
            if page["prekeys_low"]:
                await self.replenish_prekeys()
            if not page["more"] or not acks:
                return received

    async def listen(self) -> AsyncIterator[ReceivedMessage]:
        """Messages as they arrive over the WebSocket, reconnecting with backoff."""
        backoff = 0.5
        while True:
            try:
                connection = await self._transport.connect_websocket()
            except NetworkError:
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = 0.5
            try:
                async for raw in connection:
                    try:
                        frame = json.loads(raw)
                    except ValueError:
                        log.warning("ignoring a malformed frame from the server")
                        continue
                    if frame.get("type") == "prekeys_low":
                        await self.replenish_prekeys()
                    if frame.get("type") != "envelope":
                        continue
                    envelope = frame["envelope"]
                    message, ack = await self._process(envelope)
                    if ack:
                        await connection.send(json.dumps({"type": "ack", "ids": [envelope["id"]]}))
                    if message is not None:
                        yield message
            except (websockets.exceptions.WebSocketException, OSError, NetworkError):
                await asyncio.sleep(backoff * (1 + random.random()))
            finally:
                await connection.close()

    async def _process(self, envelope: dict[str, Any]) -> tuple[ReceivedMessage | None, bool]:
        """Decrypt and store one envelope. Returns the message (if new) and whether to
        acknowledge it: a message held back for an unaccepted identity change is not
        acknowledged, so it stays queued on the server until the user decides."""
        sender, device_id = str(envelope["sender"]), int(envelope["sender_device"])
        seen_key = f"{sender}/{device_id}/{envelope['message_id']}"
        if self._store.get("seen", seen_key) is not None:
            return None, True
        try:
            devices = await self._contact(sender)
            entry = devices.device(device_id) or (await self._contact(sender, refresh=True)).device(
                device_id
            )
        except IdentityChanged:
            log.warning("holding a message from %s until its new identity is trusted", sender)
            return None, False
        except (SecurityError, UnknownAccount) as exc:
            log.warning("dropping a message: %s", exc)
            return None, True
        if entry is None:
            log.warning("dropping a message from a device %s does not list", sender)
            return None, True
        session_key = f"{sender}/{device_id}"
        raw_session = self._store.get("session", session_key)
        session = None if raw_session is None else Session.from_bytes(raw_session)
        body = unb64(str(envelope["body"]))
        consumed: tuple[int | None, int, bool] | None = None
        try:
            if envelope["type"] == "prekey" and (
                session is None or not session.matches_prekey_message(body)
            ):
                inbound = Session.respond(self._identity, self._prekeys, body)
                session, plaintext = inbound.session, inbound.plaintext
                consumed = (
                    inbound.one_time_prekey_id,
                    inbound.kem_prekey_id,
                    inbound.kem_prekey_last_resort,
                )
            elif session is None:
                log.warning("dropping a message from %s: no session to decrypt it", sender)
                return None, True
            else:
                plaintext = session.decrypt(body)
            if session.remote_identity != entry.identity:
                raise SecurityError(f"{sender} used a key its device list does not hold")
            content = decode_content(plaintext)
        except (ProtocolError, ContentError, SecurityError) as exc:
            log.warning("dropping an undecryptable message from %s: %s", sender, exc)
            return None, True
        received_at = _now_ms()
        with self._store.transaction():
            self._store.put("session", session_key, session.to_bytes())
            if consumed is not None:
                self._prekeys.consume(*consumed)
            self._store.put("seen", seen_key, b"1")
            self._record(sender, content.message_id, "in", content.text, content.sent_at_ms)
        return (
            ReceivedMessage(
                content.message_id,
                sender,
                device_id,
                content.text,
                _dt(content.sent_at_ms),
                _dt(received_at),
            ),
            True,
        )

    # -- history ---------------------------------------------------------------

    def _record(
        self, peer: str, message_id: str, direction: str, text: str, ts: int, read: bool = False
    ) -> None:
        self._store.append_history(
            peer, {"id": message_id, "direction": direction, "text": text, "ts": ts}
        )
        conversation = self._store.get_json("conversation", peer) or {"unread": 0}
        unread = 0 if read else int(str(conversation["unread"])) + 1
        self._store.put_json(
            "conversation", peer, {"peer": peer, "text": text, "ts": ts, "unread": unread}
        )

    def history(self, peer: str, limit: int = 100) -> list[HistoryEntry]:
        peer = str(Address.parse(peer))
        entries = [
            HistoryEntry(
                str(e["id"]), peer, str(e["direction"]), str(e["text"]), _dt(int(str(e["ts"])))
            )
            for e in self._store.history(peer, limit)
        ]
        conversation = self._store.get_json("conversation", peer)
        if conversation is not None and conversation.get("unread"):
            conversation["unread"] = 0
            with self._store.transaction():
                self._store.put_json("conversation", peer, conversation)
        return entries

    def conversations(self) -> list[Conversation]:
        items = [json.loads(raw) for raw in self._store.all("conversation")]
        return sorted(
            (
                Conversation(c["peer"], c["text"], _dt(int(c["ts"])), int(c["unread"]))
                for c in items
            ),
            key=lambda c: c.last_timestamp,
            reverse=True,
        )
