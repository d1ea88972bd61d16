"""Sealed sender on the device: profile keys, sender certificates, sealing and opening.

- This account's *profile key* rides inside every message it sends
  (``protocol.franking``), so the people it writes to — its contacts — can derive
  its unidentified-access key; the server holds only that key's digest.
  The first profile key is derived from the account key, so linked devices
  share it; after a rotation (``rotate_profile_key``, on blocking) it is random
  and lives on the rotating device only until device sync carries it.
- A contact's profile key, learnt from their messages, lets this device send to
  them sealed. Without one (a first message to a stranger) the message goes
  unsealed, naming the sender, and lands with them as a message request.
- The server's sender-certificate key is pinned on first use; every sealed
  message's certificate must verify under it, be valid when the message arrived,
  and name the identity that the inner session authenticates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.address import Address
from sottovoce.client.backoff import Backoff
from sottovoce.client.envelope import InboundEnvelope
from sottovoce.client.errors import (
    InvalidAddress,
    MalformedResponse,
    NetworkError,
    SecurityError,
    ServerError,
)
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.crypto.random import random_bytes
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceList
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.sender_certificate import SenderCertificate
from sottovoce.protocol.public.unidentified_access import (
    PROFILE_KEY_LEN,
    unidentified_access_key,
)
from sottovoce.protocol.sealed_sender import first_profile_key, open_sealed, seal

log = logging.getLogger("sottovoce.client")

SEALED_PATH = "/v1/messages/sealed"
# Sealed sends retry like signed ones (client.outgoing.POST_ATTEMPTS): the server keys
# storage on the message id, so a retry is stored at most once.
POST_ATTEMPTS = 5
ACCESS_KEY_HEADER = "unidentified-access-key"
# A certificate is fetched again when less than this remains of it: a message
# sealed now must still be within it when it reaches the server.
CERTIFICATE_REFRESH_MARGIN_MS = 3_600_000

# Record kinds of the local store.
_OWN = "profile_key"
_CONTACT = "contact_profile_key"
_CERTIFICATE = "sender_certificate"
_SERVER_KEY = "certificate_server_key"
_SELF = "self"


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_sender_identity(envelope: InboundEnvelope, session_identity: PublicIdentity) -> None:
    """A sealed message's certificate must name the identity its session authenticates:
    the server can sign a certificate for anyone, but not produce the session."""
    if envelope.sender_certificate is None:
        return
    if SenderCertificate.from_bytes(envelope.sender_certificate).identity != session_identity:
        raise SecurityError(f"a sealed message's certificate is not {envelope.sender}'s session")


class SealedSender:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        identity: IdentityKeyPair,
        account_key: SigningKey,
    ) -> None:
        self._store = store
        self._transport = transport
        self._identity = identity
        self._account_key = account_key

    # -- profile keys ------------------------------------------------------------

    def profile_key(self) -> bytes:
        """This account's profile key. The first one is derived from the account key
        (HKDF-SHA256, its own label), so every device of the account starts with the
        same one without exchanging it; a rotated one is random."""
        key = self._store.get(_OWN, _SELF)
        if key is None:
            key = first_profile_key(self._account_key)
            with self._store.transaction():
                self._store.put(_OWN, _SELF, key)
                self._store.put_json(_OWN, "uploaded", {"uploaded": False})
        return key

    async def publish_access_key(self) -> None:
        """Tell the server this account's access key (its digest is kept), once per key."""
        key = self.profile_key()
        state = self._store.get_json(_OWN, "uploaded")
        if state is not None and state.get("uploaded") is True:
            return
        await self._transport.request(
            "PUT",
            "/v1/accounts/self/unidentified-access",
            {"access_key": sj.b64(unidentified_access_key(key))},
        )
        with self._store.transaction():
            self._store.put_json(_OWN, "uploaded", {"uploaded": True})

    async def rotate_profile_key(self) -> None:
        """A new profile key, so that whoever held the old one (a contact since
        blocked) can no longer send sealed; contacts written to again learn the new one."""
        with self._store.transaction():
            self._store.put(_OWN, _SELF, random_bytes(PROFILE_KEY_LEN))
            self._store.put_json(_OWN, "uploaded", {"uploaded": False})
        await self.publish_access_key()

    def export(self, addresses: list[str]) -> dict[str, object]:
        """This account's profile key and those of ``addresses`` (its contacts), for a
        device being linked (inside the provisioning message), so it sends sealed at once."""
        contacts = {
            address: sj.b64(key)
            for address in addresses
            if (key := self._store.get(_CONTACT, address)) is not None
        }
        return {"profile_key": sj.b64(self.profile_key()), "contacts": contacts}

    def adopt(self, exported: dict[str, object]) -> None:
        """Take over what :meth:`export` gave on the linking device. The access key is
        uploaded again on the first send (the same key: the server keeps its digest)."""
        own = sj.binary(exported, "profile_key", "profile keys")
        contacts = sj.as_object(exported.get("contacts", {}), "profile keys.contacts")
        keys = {address: sj.binary(contacts, address, "profile keys") for address in contacts}
        if len(own) != PROFILE_KEY_LEN or any(len(k) != PROFILE_KEY_LEN for k in keys.values()):
            raise MalformedResponse(f"a profile key is {PROFILE_KEY_LEN} bytes")
        with self._store.transaction():
            self._store.put(_OWN, _SELF, own)
            self._store.put_json(_OWN, "uploaded", {"uploaded": False})
            for address, key in keys.items():
                self._store.put(_CONTACT, address, key)

    def contact_key(self, address: str) -> bytes | None:
        return self._store.get(_CONTACT, address)

    def learn(self, address: str, profile_key: bytes | None) -> None:
        """Keep a contact's profile key from a message they sent (inside a transaction)."""
        if profile_key is not None and profile_key != self._store.get(_CONTACT, address):
            self._store.put(_CONTACT, address, profile_key)

    def forget(self, address: str) -> None:
        with self._store.transaction():
            self._store.delete(_CONTACT, address)

    # -- server key and certificates ------------------------------------------------

    async def _server_key(self) -> tuple[int, bytes]:
        pinned = self._store.get_json(_SERVER_KEY, _SELF)
        if pinned is None:
            answer = await self._transport.request("GET", "/v1/certificates/server-key")
            pinned = {
                "key_id": sj.integer(answer, "key_id", "server key"),
                "public": sj.string(answer, "public", "server key"),
            }
            with self._store.transaction():
                self._store.put_json(_SERVER_KEY, _SELF, pinned)
        return sj.integer(pinned, "key_id", "pinned server key"), sj.binary(
            pinned, "public", "pinned server key"
        )

    async def certificate(self) -> bytes:
        """This device's sender certificate, fetched again shortly before it expires."""
        cached = self._store.get(_CERTIFICATE, _SELF)
        if cached is not None:
            certificate = SenderCertificate.from_bytes(cached)
            if certificate.expires_ms - CERTIFICATE_REFRESH_MARGIN_MS > _now_ms():
                return cached
        answer = await self._transport.request("GET", "/v1/certificates/sender")
        raw = sj.binary(answer, "certificate", "certificate")
        key_id, key = await self._server_key()
        try:
            certificate = SenderCertificate.from_bytes(raw)
            certificate.verify(key, key_id, _now_ms())
        except ProtocolError as exc:
            raise SecurityError(f"the server issued an invalid sender certificate: {exc}") from exc
        if (
            certificate.address != self._transport.address
            or certificate.device_id != self._transport.device_id
            or certificate.identity != self._identity.public
        ):
            raise SecurityError("the server issued a sender certificate for someone else")
        with self._store.transaction():
            self._store.put(_CERTIFICATE, _SELF, raw)
        return raw

    # -- sending ----------------------------------------------------------------------

    async def send(
        self,
        *,
        message_id: str,
        recipient: str,
        devices: DeviceList,
        envelopes: list[dict[str, Any]],
        certificate: bytes,
        commitment: bytes,
    ) -> bool:
        """Seal each device copy and post them with the recipient's access key.
        False when the server refused the key (it changed): the caller sends unsealed."""
        profile_key = self.contact_key(recipient)
        if profile_key is None:
            return False
        sealed = []
        for envelope in envelopes:
            entry = devices.device(int(envelope["device_id"]))
            if entry is None:
                raise SecurityError(f"{recipient} lists no device {envelope['device_id']}")
            wrapped = seal(entry.identity, certificate, sj.unb64(str(envelope["body"])))
            sealed.append({"device_id": entry.device_id, "type": "sealed", "body": sj.b64(wrapped)})
        body: dict[str, Any] = {
            "message_id": message_id,
            "recipient": recipient,
            "commitment": sj.b64(commitment),
            "envelopes": sealed,
        }
        headers = {ACCESS_KEY_HEADER: sj.b64(unidentified_access_key(profile_key))}
        backoff = Backoff()
        for attempt in range(POST_ATTEMPTS):
            try:
                await self._transport.unsigned_request("POST", SEALED_PATH, body, headers)
                return True
            except ServerError as exc:
                if exc.status == 401:
                    log.info("%s no longer accepts our access key; sending unsealed", recipient)
                    self.forget(recipient)
                    return False
                if exc.status < 500 or attempt == POST_ATTEMPTS - 1:
                    raise
            except NetworkError:
                if attempt == POST_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(backoff.next_delay())
        return True

    # -- receiving ----------------------------------------------------------------

    async def open(self, envelope: InboundEnvelope) -> InboundEnvelope:
        """Open a sealed envelope into the inner envelope it carries, naming its sender,
        after checking the certificate (signature, expiry at the message's arrival).
        The session check comes after decryption: :func:`check_sender_identity`."""
        try:
            content = open_sealed(self._identity.dh_key, self._identity.public, envelope.body)
        except ProtocolError as exc:
            raise SecurityError(f"a sealed message does not open: {exc}") from exc
        key_id, key = await self._server_key()
        certificate = content.certificate
        try:
            certificate.verify(key, key_id, envelope.server_ts)
        except ProtocolError as exc:
            raise SecurityError(f"a sealed message's sender certificate fails: {exc}") from exc
        try:
            sender = str(Address.parse(certificate.address))
        except InvalidAddress as exc:
            raise MalformedResponse("a sender certificate names no valid address") from exc
        return replace(
            envelope,
            sender=sender,
            sender_device=certificate.device_id,
            kind=content.kind,
            body=content.message,
            sender_certificate=certificate.encoded,
        )
