"""The way out for every one-to-one payload: sessions, envelopes, and the post.

A payload (text, receipt, typing, deletion, or a sync message for this account's
other devices) is encrypted to every device of its recipient, sessions started
by PQXDH where none is usable (§3.3), and posted: sealed to a contact whose
profile key this device holds, else signed and naming the sender. When the server
says a device list changed (``stale-devices``) the lists are fetched again and
the payload encrypted anew; network failures and 5xx answers are retried with
the same message id, which the server stores at most once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.backoff import Backoff
from sottovoce.client.bundles import bundles_from_claim
from sottovoce.client.contacts import ContactBook
from sottovoce.client.content import ReceiptContent
from sottovoce.client.errors import ClientError, NetworkError, SecurityError, ServerError
from sottovoce.client.message_id import new_message_id
from sottovoce.client.safety import Verifications
from sottovoce.client.sealed import SealedSender
from sottovoce.client.session_cipher import sending_session
from sottovoce.client.session_record import SessionRecord
from sottovoce.client.store import Store
from sottovoce.client.sync_content import encode_transcript
from sottovoce.client.transport import Transport
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceList
from sottovoce.protocol.session import Session
from sottovoce.protocol.wire import MessageType, message_type

log = logging.getLogger("sottovoce.client")

# Device lists change at human pace; needing more refreshes than this within one
# send means the server keeps contradicting itself.
STALE_DEVICE_ATTEMPTS = 3
# Posting one message (and registering): with Backoff's doubling from 0.5 s the
# retries wait 4-8 s in all, enough to ride out a server restart, and each
# attempt is signed afresh within the server's ±300 s window.
POST_ATTEMPTS = 5

# The verified device list of an account (``Client._contact``).
DeviceListOf = Callable[..., Awaitable[DeviceList]]


def _now_ms() -> int:
    return int(time.time() * 1000)


class Outgoing:
    """Encrypts and posts one-to-one payloads for one device (``Client`` owns it)."""

    def __init__(
        self,
        store: Store,
        identity: IdentityKeyPair,
        transport: Transport,
        account_key: bytes,
        contacts: ContactBook,
        verifications: Verifications,
        sealed: SealedSender,
        device_list: DeviceListOf,
    ) -> None:
        self._store = store
        self._identity = identity
        self._transport = transport
        self._account_key = account_key
        self._contacts = contacts
        self._verifications = verifications
        self._sealed = sealed
        self._device_list = device_list

    async def transmit(
        self, message_id: str, recipient: str, plaintext: bytes, *, own_copies: bool
    ) -> None:
        """Encrypt ``plaintext`` to every device of ``recipient`` (and, with
        ``own_copies``, a sent transcript to this account's other devices) and post
        it, refreshing the device lists when the server says they changed."""
        franked = FrankedPlaintext.new(plaintext, self._sealed.profile_key())
        for attempt in range(STALE_DEVICE_ATTEMPTS):
            devices = await self._device_list(recipient, refresh=attempt > 0)
            self._check_verified(recipient, devices)
            envelopes = await self.encrypt_for(recipient, devices, franked.to_bytes())
            own_envelopes = (
                await self._copies_for_own_devices(recipient, plaintext, refresh=attempt > 0)
                if own_copies
                else []
            )
            try:
                await self._deliver(
                    message_id, recipient, devices, envelopes, own_envelopes, franked
                )
                return
            except ServerError as exc:
                if exc.problem_type != "stale-devices" or attempt == STALE_DEVICE_ATTEMPTS - 1:
                    raise
                log.info("the device list of %s changed; refreshing it", recipient)

    async def send_receipt(self, peer: str, receipt_type: str, ids: list[str]) -> None:
        """A ``delivered`` or ``read`` receipt for the messages ``ids`` of ``peer``."""
        message_id = new_message_id()
        receipt = ReceiptContent(message_id, receipt_type, tuple(ids), _now_ms())
        await self.transmit(message_id, peer, receipt.encode(), own_copies=False)

    async def send_to_own_devices(self, message_id: str, payload: bytes) -> None:
        """``payload`` to this account's other devices only (a sync message)."""
        address = self._transport.address
        for attempt in range(STALE_DEVICE_ATTEMPTS):
            own = await self._device_list(address, refresh=attempt > 0)
            others = self._other_own_devices(own)
            if not others.devices:
                return
            envelopes = await self.encrypt_for(address, others, payload)
            try:
                await self.post(message_id, address, envelopes)
                return
            except ServerError as exc:
                if exc.problem_type != "stale-devices" or attempt == STALE_DEVICE_ATTEMPTS - 1:
                    raise

    def _other_own_devices(self, own: DeviceList) -> DeviceList:
        others = tuple(d for d in own.devices if d.device_id != self._transport.device_id)
        return DeviceList(own.address, own.version, others)

    async def _deliver(
        self,
        message_id: str,
        recipient: str,
        devices: DeviceList,
        envelopes: list[dict[str, Any]],
        own_envelopes: list[dict[str, Any]],
        franked: FrankedPlaintext,
    ) -> None:
        """Sealed to a contact whose profile key we hold (under a fresh delivery id, so
        the server cannot link it to the signed copies for our own devices), else
        unsealed, naming us: a stranger's first message is a message request."""
        await self._sealed.publish_access_key()
        if self._sealed.contact_key(recipient) is not None:
            certificate = await self._sealed.certificate()
            if await self._sealed.send(
                message_id=new_message_id(),
                recipient=recipient,
                devices=devices,
                envelopes=envelopes,
                certificate=certificate,
                commitment=franked.commitment(certificate),
            ):
                if own_envelopes:
                    await self.post(message_id, self._transport.address, own_envelopes)
                return
        await self.post(
            message_id, recipient, envelopes, own_envelopes, commitment=franked.commitment()
        )

    def _check_verified(self, recipient: str, devices: DeviceList) -> None:
        """A contact marked verified whose safety number changed blocks sending."""
        key = self._contacts.pinned_key(recipient)
        if key is not None:
            self._verifications.check_sendable(recipient, key, devices)

    async def _copies_for_own_devices(
        self, recipient: str, payload: bytes, *, refresh: bool
    ) -> list[dict[str, Any]]:
        """Sent transcripts for this account's other devices (``sync_content``)."""
        address = self._transport.address
        others = self._other_own_devices(await self._device_list(address, refresh=refresh))
        if not others.devices:
            return []
        return await self.encrypt_for(address, others, encode_transcript(recipient, payload))

    async def post(
        self,
        message_id: str,
        recipient: str,
        envelopes: list[dict[str, Any]],
        own_envelopes: list[dict[str, Any]] | None = None,
        *,
        commitment: bytes | None = None,
    ) -> None:
        """``POST /v1/messages`` (a ``send`` frame while the live connection is open),
        retried on network failures and 5xx answers with the same body: the server
        keys storage on (sender device, message id). One request carries the
        recipient's copies and those for this account's other devices."""
        body: dict[str, Any] = {
            "message_id": message_id,
            "recipient": recipient,
            "envelopes": envelopes,
        }
        if own_envelopes:
            body["own_envelopes"] = own_envelopes
        if commitment is not None:
            body["commitment"] = sj.b64(commitment)
        backoff = Backoff()
        for attempt in range(POST_ATTEMPTS):
            try:
                await self._transport.send_message(body)
                return
            except (NetworkError, ServerError) as exc:
                transient = isinstance(exc, NetworkError) or exc.status >= 500
                if not transient or attempt == POST_ATTEMPTS - 1:
                    raise
                log.info("sending %s failed (%s); retrying", message_id, exc)
                await asyncio.sleep(backoff.next_delay())

    async def encrypt_for(
        self, recipient: str, devices: DeviceList, plaintext: bytes
    ) -> list[dict[str, Any]]:
        """One envelope per device of ``devices``, sessions started where needed."""
        missing = [
            e.device_id
            for e in devices.devices
            if sending_session(SessionRecord.load(self._store, recipient, e.device_id), e) is None
        ]
        fresh = await self._start_sessions(recipient, devices, missing) if missing else {}
        # From here to the commit nothing awaits, so a message received meanwhile
        # cannot have its session update overwritten by this send.
        envelopes = []
        with self._store.transaction():
            for entry in devices.devices:
                record = SessionRecord.load(self._store, recipient, entry.device_id)
                session = sending_session(record, entry) or fresh.get(entry.device_id)
                if session is None:  # trust_identity ran while the bundles were claimed
                    raise ClientError(f"the sessions with {recipient} changed; send again")
                ciphertext = session.encrypt(plaintext)
                kind = "prekey" if message_type(ciphertext) is MessageType.PREKEY else "message"
                envelopes.append(
                    {"device_id": entry.device_id, "type": kind, "body": sj.b64(ciphertext)}
                )
                # Saved before posting: a crash can never reuse a message key.
                record.use(session)
                record.save(self._store)
        return envelopes

    async def _start_sessions(
        self, recipient: str, devices: DeviceList, device_ids: list[int]
    ) -> dict[int, Session]:
        """Claim bundles for ``device_ids`` and run PQXDH as initiator (§3.3)."""
        claim = await self._transport.request(
            "POST", "/v1/keys/claim", {"address": recipient, "device_ids": device_ids}
        )
        await self._check_claimed_account_key(recipient, claim)
        bundles = bundles_from_claim(claim, devices, device_ids)
        absent = sorted(set(device_ids) - bundles.keys())
        if absent:
            raise ClientError(f"{recipient} has devices without prekeys on the server: {absent}")
        sessions = {}
        for device_id, bundle in bundles.items():
            try:
                sessions[device_id] = Session.initiate(self._identity, bundle)
            except ProtocolError as exc:
                raise SecurityError(f"a prekey bundle for {recipient} is invalid: {exc}") from exc
        return sessions

    async def _check_claimed_account_key(self, recipient: str, claim: dict[str, Any]) -> None:
        """A claim names the account key too: if it is not the pinned one, the change
        is recorded and refused like any other (IdentityChanged)."""
        expected = (
            self._account_key
            if recipient == self._transport.address
            else self._contacts.pinned_key(recipient)
        )
        if sj.binary(claim, "account_key", "claim") == expected:
            return
        await self._device_list(recipient, refresh=True)
        raise SecurityError(f"the server named two different account keys for {recipient}")
