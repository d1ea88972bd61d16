"""The Client: one device of one account, usable by any program without the CLI.

It ties the pieces together: the encrypted local store (``store``), this
device's prekeys on the server (``prekey_supply``), contacts pinned on first
use (``contacts``), the sessions with each peer device (``session_record``),
and the signed transport. All network I/O of the SDK starts here.

Two rules keep state consistent when ``send``, ``fetch`` and ``listen`` run
concurrently in one event loop: a session is read, used and written back with
no ``await`` in between, and everything a received message changes is written
in one store transaction that commits before the server is told to forget it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.exceptions import ConnectionClosed

from sottovoce.client import attachments, backup, deletion
from sottovoce.client import server_json as sj
from sottovoce.client.address import Address
from sottovoce.client.alerts import Alert, Alerts, SecurityAlert
from sottovoce.client.attachments import AttachmentPointer, Progress
from sottovoce.client.backoff import Backoff
from sottovoce.client.blocklist import BlockedAccount, BlockList
from sottovoce.client.bundles import bundles_from_claim
from sottovoce.client.contacts import CONTACT, ContactBook, verify_view
from sottovoce.client.content import (
    MAX_QUOTE_CHARS,
    MAX_RECEIPT_IDS,
    DeleteContent,
    Quote,
    ReceiptContent,
    TextContent,
    TypingContent,
    decode_payload,
)
from sottovoce.client.devices import (
    OWN_DEVICES,
    DeviceInfo,
    OwnDevices,
    PendingLink,
    Provisioned,
    contact_records,
)
from sottovoce.client.disappearing import Disappearing, Expired
from sottovoce.client.envelope import InboundEnvelope, parse_envelope, queue_id_of
from sottovoce.client.errors import (
    ClientError,
    IdentityChanged,
    InvalidAddress,
    InvalidMessage,
    MalformedResponse,
    NetworkError,
    ProfileError,
    SecurityError,
    ServerError,
    UnknownAccount,
)
from sottovoce.client.forwarding import forward_targets
from sottovoce.client.franking import FiledReport, FrankingEvidence, file_report, open_franked
from sottovoce.client.group_chat import history_peer
from sottovoce.client.groups import GROUP_TYPES, Groups
from sottovoce.client.head_gossip import HeadGossip
from sottovoce.client.history import History
from sottovoce.client.live_connection import LiveConnection
from sottovoce.client.message_id import new_message_id
from sottovoce.client.messages import (
    Conversation,
    Direction,
    HistoryEntry,
    ReceivedMessage,
    SentMessage,
    datetime_from_ms,
)
from sottovoce.client.operator_notice import is_operator_notice, receive_operator_notice
from sottovoce.client.own_sync import Outbox, apply_sync
from sottovoce.client.prekey_supply import PreKeySupply
from sottovoce.client.receipts import TYPING, TYPING_FRESH_MS, Receipts
from sottovoce.client.requests import GroupRequest, MessageRequest, MessageRequests
from sottovoce.client.safety import Verifications, safety_number
from sottovoce.client.sealed import SealedSender, check_sender_identity
from sottovoce.client.search import SearchHit
from sottovoce.client.search import search as search_history
from sottovoce.client.session_cipher import Decrypted, claimed_identity, decrypt, sending_session
from sottovoce.client.session_record import SessionRecord
from sottovoce.client.store import Store
from sottovoce.client.sync_content import (
    DeleteForMeSync,
    DeviceReadySync,
    TimerSync,
    decode_sync,
    encode_transcript,
)
from sottovoce.client.transparency import LogMonitor, Lookup
from sottovoce.client.transport import Transport
from sottovoce.client.upload_journal import PendingUpload, UploadJournal
from sottovoce.crypto.password import Argon2Parameters
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.protocol.safety_number import SafetyNumber
from sottovoce.protocol.session import Session
from sottovoce.protocol.wire import MessageType, message_type

log = logging.getLogger("sottovoce.client")

FIRST_DEVICE_ID = 1
# Messages per GET /v1/messages: a page decrypts in well under a second and its
# acknowledgement fits one small request.
FETCH_PAGE = 100
# Device lists change at human pace; needing more refreshes than this within one
# send means the server keeps contradicting itself.
STALE_DEVICE_ATTEMPTS = 3
# Posting one message (and registering): with Backoff's doubling from 0.5 s the
# retries wait 4-8 s in all, enough to ride out a server restart, and each
# attempt is signed afresh within the server's ±300 s window.
POST_ATTEMPTS = 5
# Messages one report carries (the server's MAX_MESSAGES_PER_REPORT).
MESSAGES_PER_REPORT = 20
# Queue ids one WebSocket ack frame carries at most (the server's limits.MAX_FETCH).
ACK_IDS_PER_FRAME = 500
# How far back in each conversation forward() looks for the message it is given.
FORWARD_SEARCH_DEPTH = 1_000

# Downloaded attachments, still encrypted, in the profile directory.
ATTACHMENT_DIR = "attachments"

# Record kinds of the local store.
_PROFILE = "profile"
_IDENTITY = "identity"
_ACCOUNT_KEY = "account_key"
_SEEN = "seen"
_SELF = "self"
# The own device-list version every group has been brought in line with.
_GROUPS_FOLLOW = "groups_follow_devices"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _today() -> int:
    return int(time.time() // 86_400)


def _server_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"the server URL {url!r} must start with http:// or https://")
    return url


@dataclass(frozen=True, slots=True)
class SafetyStatus:
    """This account as the server sees it (``GET /v1/safety``)."""

    minor: bool
    standing: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What became of one delivered envelope: the new message, if any, and the queue
    id to acknowledge (``None`` keeps it queued on the server)."""

    message: ReceivedMessage | None
    ack: int | None


class Client:
    """One device of one account. Create with :meth:`create_account` or :meth:`open`."""

    def __init__(
        self,
        store: Store,
        identity: IdentityKeyPair,
        transport: Transport,
    ) -> None:
        self._store = store
        self._identity = identity
        self._transport = transport
        self._prekeys = PreKeySupply(store, transport, identity)
        self._history = History(store)
        self._contacts = ContactBook(store)
        self._blocklist = BlockList(store)
        self._uploads = UploadJournal(store)
        self._requests = MessageRequests(store, self._history)
        self._disappearing = Disappearing(store)  # per-conversation timers (docs/app.md)
        # Deletions and timer changes made here, for this account's other devices.
        self._outbox = Outbox(store, self._send_to_own_devices)
        # Delivery and read receipts (client.receipts); ``on_update`` hears of each
        # peer whose conversation changed without a new message: a receipt moved a
        # sent message's state, or a message was deleted for everyone.
        self._receipts = Receipts(store)
        self._pending_receipts: dict[str, list[str]] = {}
        self.on_update: Callable[[str], None] | None = None
        # Typing indicators (client.receipts): ``on_typing(peer, started)``.
        self.on_typing: Callable[[str, bool], None] | None = None
        # Linked devices, key transparency and safety numbers (docs/transparency.md).
        raw_account_key = store.get(_ACCOUNT_KEY, _SELF)
        if raw_account_key is None:
            raise ProfileError(f"the profile in {store.directory} has no account key")
        self._account_key = SigningKey.from_bytes(raw_account_key)
        self._alerts = Alerts(store)
        self._kt = LogMonitor(store, transport, self._alerts, self._account_key.public)
        self._gossip = HeadGossip(store, self._kt)
        self._own = OwnDevices(store, transport, self._account_key, self._kt, self._alerts)
        self._verifications = Verifications(store)
        # Sealed sender and franking (docs/safety.md).
        self._sealed = SealedSender(store, transport, identity, self._account_key)
        self._evidence = FrankingEvidence(store, transport.device_id)
        # Groups on MLS (docs/groups.md); messages a group rebase fetched wait here
        # for the next fetch().
        self._groups = Groups(
            store, transport, identity.signing_key, self._contact, self._catch_up, self._outbox
        )
        # A stranger adding this device to a group is a message request (docs/safety.md).
        self._groups.on_join = lambda group_id, inviter: self._requests.group_invite(
            group_id, inviter, self.address, _now_ms()
        )
        # Receipts, typing and deletions in groups follow the same rules (client.group_chat).
        self._groups.is_request = self._requests.is_group_request
        self._groups.is_blocked = self._blocklist.is_blocked
        self._groups.forget_attachments = self._forget_attachments
        self._caught_up: list[ReceivedMessage] = []
        self._following_devices = False
        # A newly linked device of this account said it is ready (DeviceReadySync):
        # it is added to the groups once the envelope that said so is committed.
        self._device_ready = False
        self._closed = False

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
        minor: bool = False,
    ) -> Client:
        """Create the local profile and its keys, register the account, upload prekeys.

        ``argon2`` overrides the Argon2id costs of a passphrase (tests lower them).
        ``minor`` marks a minor's account, on an app that marks minors (docs/safety.md).
        If registration fails the new profile is removed again; if only the prekey
        upload fails the account exists and the next ``fetch`` or ``listen`` uploads.
        """
        address = str(Address.parse(f"{handle}@{app}"))
        server_url = _server_url(server_url)
        Store.ensure_absent(profile_dir)
        identity = IdentityKeyPair.generate()
        account_key = SigningKey.generate()
        device_list = DeviceList(
            address, 1, (DeviceEntry(FIRST_DEVICE_ID, identity.public, _today()),)
        )
        # Argon2id takes a second on purpose; keep the event loop responsive.
        store = await asyncio.to_thread(Store.create, profile_dir, passphrase, argon2)
        transport = Transport(server_url, address, FIRST_DEVICE_ID, identity.signing_key)
        try:
            with store.transaction():
                store.put_json(
                    _PROFILE,
                    _SELF,
                    {"address": address, "device_id": FIRST_DEVICE_ID, "server_url": server_url},
                )
                store.put(_IDENTITY, _SELF, identity.to_bytes())
                store.put(_ACCOUNT_KEY, _SELF, account_key.private_bytes())
                store.put(OWN_DEVICES, _SELF, device_list.sign(account_key))
                PreKeySupply.create_initial(store, identity)
            await _register(
                transport,
                {
                    "app": app,
                    "handle": handle,
                    "account_key": sj.b64(account_key.public),
                    "identity": sj.b64(identity.public.to_bytes()),
                    "device_list": sj.b64(device_list.sign(account_key)),
                    **({"minor": True} if minor else {}),
                },
                account_key.public,
            )
        except BaseException:
            await transport.close()
            store.discard()
            raise
        client = cls(store, identity, transport)
        try:
            await client._kt.pin_log_key()
            client._kt.record_own_list(device_list.sign(account_key), device_list.version)
            await client._stock_server()
        except BaseException:
            await client.close()
            raise
        return client

    @classmethod
    async def begin_link(cls, server_url: str) -> PendingLink:
        """Start linking this machine as a new device of an existing account: show
        ``pending.code_text`` (or its QR code) to a device of the account, which runs
        :meth:`accept_link`, then call :meth:`finish_link`."""
        # The new device has no account yet: these requests carry a throwaway signature.
        transport = Transport(_server_url(server_url), "", 0, SigningKey.generate())
        try:
            return await PendingLink.begin(transport)
        except BaseException:
            await transport.close()
            raise

    @classmethod
    async def finish_link(
        cls,
        pending: PendingLink,
        profile_dir: Path,
        server_url: str,
        *,
        passphrase: str | None = None,
        argon2: Argon2Parameters | None = None,
    ) -> Client:
        """Wait for the provisioning message, then create this device's profile."""
        server_url = _server_url(server_url)
        Store.ensure_absent(profile_dir)
        try:
            provisioned: Provisioned = await pending.wait()
        finally:
            await pending.close()
        store = await asyncio.to_thread(Store.create, profile_dir, passphrase, argon2)
        identity = pending.identity
        try:
            with store.transaction():
                store.put_json(
                    _PROFILE,
                    _SELF,
                    {
                        "address": provisioned.address,
                        "device_id": provisioned.device_id,
                        "server_url": server_url,
                    },
                )
                store.put(_IDENTITY, _SELF, identity.to_bytes())
                store.put(_ACCOUNT_KEY, _SELF, provisioned.account_key.private_bytes())
                store.put(OWN_DEVICES, _SELF, provisioned.device_list)
                for record in provisioned.contacts:
                    store.put_json(CONTACT, str(record.get("address")), record)
                PreKeySupply.create_initial(store, identity)
        except BaseException:
            store.discard()
            raise
        transport = Transport(
            server_url, provisioned.address, provisioned.device_id, identity.signing_key
        )
        client = cls(store, identity, transport)
        try:
            client._kt.adopt(provisioned.transparency)
            if provisioned.profile_keys:
                client._sealed.adopt(provisioned.profile_keys)
            await client._stock_server()
            await client._announce_ready()
        except BaseException:
            await client.close()
            raise
        return client

    async def _stock_server(self) -> None:
        """Upload what a new device owes the server: one-time prekeys and KeyPackages."""
        await self._prekeys.replenish()
        await self._groups.key_packages.replenish()

    async def _announce_ready(self) -> None:
        """Tell this account's other devices that this new one can be added to groups
        (its KeyPackages are on the server): one that is online adds it at once.
        Through the outbox, so an unreachable server only delays it."""
        ready = DeviceReadySync(new_message_id())
        with self._store.transaction():
            self._outbox.queue(ready.message_id, ready.encode())
        await self._outbox.flush()

    @classmethod
    async def open(cls, profile_dir: Path, *, passphrase: str | None = None) -> Client:
        """Unlock an existing profile. Wrong passphrase or damage: :class:`ProfileError`."""
        store = await asyncio.to_thread(Store.open, profile_dir, passphrase)
        try:
            profile = store.get_json(_PROFILE, _SELF)
            raw_identity = store.get(_IDENTITY, _SELF)
            if profile is None or raw_identity is None:
                raise ProfileError(f"the profile in {profile_dir} has no account")
            try:
                identity = IdentityKeyPair.from_bytes(raw_identity)
            except ProtocolError as exc:
                raise ProfileError(f"the identity in {profile_dir} is damaged") from exc
            address, device_id, server_url = (
                profile.get(name) for name in ("address", "device_id", "server_url")
            )
            if (
                not isinstance(address, str)
                or not isinstance(device_id, int)
                or not isinstance(server_url, str)
            ):
                raise ProfileError(f"the account record in {profile_dir} is damaged")
        except BaseException:
            store.close()
            raise
        return cls(store, identity, Transport(server_url, address, device_id, identity.signing_key))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
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
        return self._transport.address

    @property
    def device_id(self) -> int:
        return self._transport.device_id

    @property
    def groups(self) -> Groups:
        """This device's groups: create, add, remove, leave, send (docs/groups.md)."""
        return self._groups

    @property
    def server_url(self) -> str:
        return self._transport.server_url

    def __repr__(self) -> str:
        return f"Client({self.address}, device {self.device_id})"

    async def replenish_prekeys(self) -> None:
        """Upload whatever prekeys the server lacks (done on ``prekeys_low`` anyway)."""
        await self._prekeys.replenish()

    # -- contacts: pinning and device lists --------------------------------------

    async def _contact(self, address: str, *, refresh: bool = False) -> DeviceList:
        """The contact's verified device list: the pinned one, unless ``refresh`` or a
        pending identity change sends us to the server, whose answer then goes
        through the pinning policy (``contacts``)."""
        if address == self.address:
            return await self._own.refresh() if refresh else await self._own.current()
        pinned = None if refresh else self._contacts.device_list(address)
        if pinned is not None:
            return pinned
        target = Address.parse(address)
        try:
            view = await self._transport.request(
                "GET", f"/v1/accounts/{target.app}/{target.handle}"
            )
        except ServerError as exc:
            if exc.status == 404:
                raise UnknownAccount(address) from exc
            raise
        key = sj.binary(view, "account_key", "account")
        signed_list = sj.binary(view, "device_list", "account")
        try:
            devices = verify_view(address, key, signed_list)
        except SecurityError as exc:
            # A device the account key did not sign: a ghost. Nothing is encrypted to it.
            raise self._alerts.raise_alert("ghost-device", address, str(exc)) from exc
        transparency = sj.child(view, "transparency", "account")
        await self._kt.verify(
            Lookup(
                address,
                key,
                signed_list,
                devices,
                transparency,
                self._contacts.pinned_key(address),
            )
        )
        self._contacts.observe(address, key, signed_list, devices)
        return devices

    def trust_identity(self, peer: str) -> None:
        """Accept a contact's changed identity key after the person checked it with
        them. Messages held on the server meanwhile arrive on the next fetch."""
        self._contacts.trust(str(Address.parse(peer)))

    def pending_identity_changes(self) -> list[str]:
        """Contacts whose identity key changed and awaits :meth:`trust_identity`;
        sending to them is refused and their messages wait on the server until then."""
        return self._contacts.pending_changes()

    # -- sending ---------------------------------------------------------------

    async def send(
        self,
        recipient: str,
        text: str,
        *,
        forwarded: int = 0,
        attachment: AttachmentPointer | None = None,
        reply_to: str | None = None,
    ) -> SentMessage:
        """Encrypt ``text`` to every device of ``recipient`` and hand it to the server.

        Returns once the server has stored it. Network failures are retried with
        the same message id, which the server stores at most once. Writing to
        someone whose message request is open accepts it. ``forwarded`` is the
        forward count :meth:`forward` passes on (``client.forwarding``).
        """
        recipient = str(Address.parse(recipient))
        if recipient == self.address:
            raise InvalidAddress("sending to yourself is not supported yet")
        message_id = new_message_id()
        sent_at = _now_ms()
        timer = self._disappearing.timer(recipient)
        quote = self._quote(recipient, reply_to) if reply_to else None
        content = TextContent(message_id, text, sent_at, forwarded, attachment, timer, quote)
        content.encode()  # empty or oversized text is refused before any request
        if self._kt.latest_head_bytes() is None:
            # A device that has not followed the log yet: the lookup does, so that even
            # its first message carries a head (client.head_gossip).
            await self._contact(recipient)
        content = self._gossip.attach(recipient, content)
        await self._transmit(message_id, recipient, content.encode(), own_copies=True)
        with self._store.transaction():
            self._requests.accept(recipient)
            self._record(recipient, content, "out", sent_at)
            self._receipts.sent(recipient, message_id)
            self._gossip.sent(recipient, content.tree_head)
        return SentMessage(message_id, recipient, text, datetime_from_ms(sent_at))

    def _quote(self, peer: str, message_id: str) -> Quote:
        """A reply's quote of message ``message_id`` of the conversation with ``peer``."""
        for entry in reversed(self._history.entries(peer, FORWARD_SEARCH_DEPTH)):
            if entry.message_id == message_id:
                author = self.address if entry.direction == "out" else peer
                return Quote(message_id, author, entry.text[:MAX_QUOTE_CHARS])
        raise ClientError(f"no message {message_id} with {peer} to reply to")

    async def _transmit(
        self, message_id: str, recipient: str, plaintext: bytes, *, own_copies: bool
    ) -> None:
        """Encrypt ``plaintext`` to every device of ``recipient`` (and, with
        ``own_copies``, a sent transcript to this account's other devices) and post
        it, refreshing the device lists when the server says they changed."""
        franked = FrankedPlaintext.new(plaintext, self._sealed.profile_key())
        for attempt in range(STALE_DEVICE_ATTEMPTS):
            devices = await self._contact(recipient, refresh=attempt > 0)
            self._check_verified(recipient, devices)
            envelopes = await self._encrypt_for(recipient, devices, franked.to_bytes())
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

    # -- receipts (client.receipts) ----------------------------------------------------

    def set_receipts(self, on: bool) -> None:
        """Send delivery and read receipts (off by default in the SDK)."""
        self._receipts.set_enabled(on)

    def receipts_enabled(self) -> bool:
        return self._receipts.enabled()

    def set_typing_indicators(self, on: bool) -> None:
        """Send (and show) typing indicators (off by default in the SDK)."""
        self._receipts.set_enabled(on, TYPING)

    def typing_indicators_enabled(self) -> bool:
        return self._receipts.enabled(TYPING)

    async def send_typing(self, peer: str, started: bool) -> None:
        """Tell ``peer`` this person started (or stopped) writing to them."""
        peer = str(Address.parse(peer))
        if self._receipts.enabled(TYPING) and not self._requests.is_request(peer):
            typing = TypingContent(new_message_id(), started, _now_ms())
            await self._transmit(typing.message_id, peer, typing.encode(), own_copies=False)

    def message_state(self, message_id: str) -> str | None:
        """A sent message's state: ``sent``, ``delivered`` or ``read``."""
        return self._receipts.state(message_id)

    async def send_read_receipt(self, peer: str, message_ids: list[str]) -> None:
        """Tell ``peer`` its messages were read (when receipts are on and it is not a
        message request)."""
        peer = str(Address.parse(peer))
        if message_ids and self._receipts.enabled() and not self._requests.is_request(peer):
            await self._send_receipt(peer, "read", message_ids[-MAX_RECEIPT_IDS:])

    async def _send_receipt(self, peer: str, receipt_type: str, ids: list[str]) -> None:
        message_id = new_message_id()
        receipt = ReceiptContent(message_id, receipt_type, tuple(ids), _now_ms())
        await self._transmit(message_id, peer, receipt.encode(), own_copies=False)

    async def _flush_receipts(self) -> None:
        """Delivery receipts for what was just stored (a failure only costs the receipt),
        then the check of the tree heads its senders gossiped (``client.head_gossip``)."""
        pending, self._pending_receipts = self._pending_receipts, {}
        for peer, ids in pending.items():
            try:
                await self._send_receipt(peer, "delivered", ids[-MAX_RECEIPT_IDS:])
            except ClientError as exc:
                log.info("a delivery receipt to %s failed: %s", peer, exc)
        await self._groups.flush_receipts()
        await self._gossip.check_heard()

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
                    await self._post(message_id, self.address, own_envelopes)
                return
        await self._post(
            message_id, recipient, envelopes, own_envelopes, commitment=franked.commitment()
        )

    async def report(self, message_ids: list[str], reason: str) -> FiledReport:
        """Report received messages: their content, franking keys and tags go to the
        server, which verifies they were delivered to us and stores the report."""
        return await file_report(self._transport, self._evidence, message_ids, reason)

    async def rotate_profile_key(self) -> None:
        """A new profile key (after blocking someone): whoever holds the old one can
        no longer send us sealed messages; contacts learn the new one from our next
        message to them."""
        await self._sealed.rotate_profile_key()

    def _check_verified(self, recipient: str, devices: DeviceList) -> None:
        """A contact marked verified whose safety number changed blocks sending."""
        key = self._contacts.pinned_key(recipient)
        if key is not None:
            self._verifications.check_sendable(recipient, key, devices)

    async def _copies_for_own_devices(
        self, recipient: str, payload: bytes, *, refresh: bool
    ) -> list[dict[str, Any]]:
        """Sent transcripts for this account's other devices (``sync_content``)."""
        own = await self._contact(self.address, refresh=refresh)
        others = DeviceList(
            own.address, own.version, tuple(d for d in own.devices if d.device_id != self.device_id)
        )
        if not others.devices:
            return []
        return await self._encrypt_for(self.address, others, encode_transcript(recipient, payload))

    async def _post(
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

    async def _encrypt_for(
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
            self._account_key.public
            if recipient == self.address
            else self._contacts.pinned_key(recipient)
        )
        if sj.binary(claim, "account_key", "claim") == expected:
            return
        await self._contact(recipient, refresh=True)
        raise SecurityError(f"the server named two different account keys for {recipient}")

    # -- receiving -------------------------------------------------------------

    async def fetch(self) -> list[ReceivedMessage]:
        """Pull queued messages over HTTP, decrypt, store, acknowledge.

        Returns only messages never returned before. If the server becomes
        unreachable midway, what was already stored is returned and the rest
        stays queued for the next call.
        """
        received, self._caught_up = self._caught_up, []
        await self.check_transparency()
        await self._follow_own_devices()
        await self._outbox.flush()
        while True:
            page = await self._transport.request("GET", f"/v1/messages?limit={FETCH_PAGE}")
            envelopes = sj.as_list(sj.field(page, "messages", "fetch"), "fetch.messages")
            acks: list[int] = []
            interrupted: ClientError | None = None
            for raw in envelopes:
                try:
                    outcome = await self._receive(raw)
                except (NetworkError, ServerError) as exc:
                    interrupted = exc
                    break
                if outcome.ack is not None:
                    acks.append(outcome.ack)
                if outcome.message is not None:
                    received.append(outcome.message)
            if acks:
                await self._acknowledge(acks)
            await self._flush_receipts()
            await self._add_ready_device()
            if interrupted is not None:
                if not received:
                    raise interrupted
                log.warning("fetch stopped early: %s", interrupted)
                return received
            if sj.boolean(page, "prekeys_low", "fetch"):
                await self._replenish_quietly()
            if page.get("key_packages_low") is True:
                await self._replenish_key_packages_quietly()
            if not sj.boolean(page, "more", "fetch") or not acks:
                return received

    async def _acknowledge(self, ids: list[int]) -> None:
        # Everything acknowledged is committed, so a lost ack only means the server
        # delivers these again and the dedup marks acknowledge them then.
        try:
            await self._transport.request("POST", "/v1/messages/ack", {"ids": ids})
        except NetworkError as exc:
            log.warning(
                "acknowledging %d messages failed (%s); they will be redelivered", len(ids), exc
            )

    async def _replenish_quietly(self) -> None:
        """Top up prekeys without failing the caller: messages matter more, and the
        server keeps saying prekeys_low until an upload succeeds."""
        try:
            await self._prekeys.replenish()
        except ClientError as exc:
            log.warning("uploading prekeys failed: %s", exc)

    async def _replenish_key_packages_quietly(self) -> None:
        try:
            await self._groups.key_packages.replenish()
        except ClientError as exc:
            log.warning("uploading KeyPackages failed: %s", exc)

    async def _follow_own_devices(self) -> None:
        """Once this device holds a newer own device list (it linked or removed a
        device, or the log showed another device doing so), add the listed devices to
        every group and remove the unlisted ones (``Groups.follow_own_devices``).
        Not re-entered by the fetch a group rebase runs; a failure waits for the next."""
        latest = self._kt.latest_own_version()
        done = self._store.get_json(_GROUPS_FOLLOW, _SELF) or {}
        if self._following_devices or done.get("version") == latest:
            return
        self._following_devices = True
        try:
            held = self._own.held()
            devices = held if held is not None and held.version >= latest else None
            devices = devices or await self._own.refresh()
            if await self._groups.follow_own_devices(devices):
                with self._store.transaction():
                    self._store.put_json(_GROUPS_FOLLOW, _SELF, {"version": latest})
        except ClientError as exc:
            log.warning("bringing this account's devices into its groups failed: %s", exc)
        finally:
            self._following_devices = False

    async def _add_ready_device(self) -> None:
        """A newly linked device of this account is ready (``DeviceReadySync``): add it
        to every group now. Another device than the one that linked it learns the new
        device list from the transparency log first."""
        if not self._device_ready:
            return
        self._device_ready = False
        try:
            await self.check_transparency()
        except ClientError as exc:
            log.warning("checking the transparency log for a new device failed: %s", exc)
        await self._follow_own_devices()

    async def _catch_up(self) -> None:
        """Process everything queued for this device (a group rebase needs the commit
        that won); what it returns is handed out by the next :meth:`fetch`."""
        messages = await self.fetch()  # it takes the earlier ones out first
        self._caught_up.extend(messages)

    async def _receive_group(self, raw: object, queue_id: int) -> _Outcome:
        event, acknowledge = await self._groups.receive(raw)
        message = None
        # A blocked account's group messages, and those of a group a stranger added
        # this device to, are processed (the group's state needs them) but not
        # handed out (docs/safety.md); being added is shown, as the request's notice.
        if (
            event is not None
            and event.kind != "added"
            and self._requests.is_group_request(event.group_id)
        ):
            pass
        elif (
            event is not None
            and event.message is not None
            and not self._blocklist.is_blocked(event.message.sender)
        ):
            m = event.message
            message = ReceivedMessage(
                m.message_id,
                m.sender,
                m.sender_device,
                m.text,
                m.sent_at,
                datetime_from_ms(_now_ms()),
                group=m.group,
            )
        elif (
            event is not None
            and event.kind == "added"
            and event.actor is not None
            and not self._blocklist.is_blocked(event.actor)
        ):
            now = datetime_from_ms(_now_ms())
            request = self._requests.is_group_request(event.group_id)
            message = ReceivedMessage(
                f"group-added-{event.group_id.hex()}",
                event.actor,
                0,
                f"you were added to {event.group} by {event.actor}"
                + (" (a message request: accept or decline it)" if request else ""),
                now,
                now,
                group=event.group,
                event="group-added",
            )
        return _Outcome(message, queue_id if acknowledge else None)

    async def listen(self) -> AsyncIterator[ReceivedMessage]:
        """Messages as they arrive over the WebSocket, forever.

        The server first sends the queued backlog, then ``queue_empty``, then new
        messages live. A broken connection is reopened with exponential backoff
        and jitter; what was not acknowledged is sent again and dropped here as a
        duplicate if it was already stored. Only a refused upgrade (e.g. this
        device is unknown to the server) ends the iteration, with ServerError.
        """
        backoff = Backoff()
        while True:
            try:
                connection = await self._transport.connect_websocket()
            except NetworkError as exc:
                log.info("live connection unavailable (%s); retrying", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            try:
                await self.check_transparency()  # each (re)connection is a sync
                await self._follow_own_devices()
                await self._outbox.flush()
                async for message in self._stream(connection, backoff.reset):
                    yield message
            except (ConnectionClosed, OSError, NetworkError, ServerError, MalformedResponse) as exc:
                log.info("live connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                await connection.close()
            await asyncio.sleep(backoff.next_delay())

    async def _stream(
        self, connection: LiveConnection, healthy: Callable[[], None]
    ) -> AsyncIterator[ReceivedMessage]:
        """The messages of one WebSocket connection, acknowledged after commit: the
        envelopes one read brought (a ``batch`` frame's, docs/api.md) in one ack."""
        async for frames in connection:
            acks: list[int] = []
            messages: list[ReceivedMessage] = []
            envelopes = 0
            for raw in frames:
                try:
                    frame = sj.as_object(raw, "frame")
                    kind = sj.string(frame, "type", "frame")
                except MalformedResponse:
                    log.warning("ignoring a malformed frame from the server")
                    continue
                if kind == "queue_empty":
                    healthy()
                elif kind == "prekeys_low":
                    await self._replenish_quietly()
                elif kind == "key_packages_low":
                    await self._replenish_key_packages_quietly()
                elif kind == "error":
                    log.warning("the server rejected a frame: %s", frame.get("detail"))
                elif kind == "envelope":
                    envelopes += 1
                    outcome = await self._receive(frame.get("envelope"))
                    if outcome.ack is not None:
                        acks.append(outcome.ack)
                    if outcome.message is not None:
                        messages.append(outcome.message)
            for start in range(0, len(acks), ACK_IDS_PER_FRAME):
                ids = acks[start : start + ACK_IDS_PER_FRAME]
                await connection.send(json.dumps({"type": "ack", "ids": ids}))
            if envelopes:
                await self._flush_receipts()
                await self._add_ready_device()
            for message in messages:
                yield message

    async def _receive(self, raw: object) -> _Outcome:
        """Validate, decrypt and store one delivered envelope.

        Dropped (acknowledged, with a warning that never includes content):
        malformed, forged or undecryptable envelopes. Held (not acknowledged):
        messages from a contact whose identity changed. Network and server
        errors propagate and leave the envelope queued.
        """
        queue_id = queue_id_of(raw)
        if queue_id is None:
            log.warning("ignoring an envelope without a usable queue id")
            return _Outcome(None, None)
        if isinstance(raw, dict) and raw.get("type") in GROUP_TYPES:
            return await self._receive_group(raw, queue_id)
        if is_operator_notice(raw):  # signed by the operator, not encrypted (docs/legal.md)
            try:
                notice = await receive_operator_notice(
                    self._store,
                    self._transport,
                    self.address,
                    raw,  # type: ignore[arg-type]
                )
            except (SecurityError, MalformedResponse) as exc:
                log.warning("dropping an operator notice: %s", exc)
                return _Outcome(None, queue_id)
            return _Outcome(notice, queue_id)
        try:
            envelope = parse_envelope(raw)
        except MalformedResponse as exc:
            log.warning("dropping a malformed envelope: %s", exc)
            return _Outcome(None, queue_id)
        if envelope.sealed:
            try:
                envelope = await self._sealed.open(envelope)
            except (SecurityError, MalformedResponse) as exc:
                log.warning("dropping a sealed message: %s", exc)
                return _Outcome(None, queue_id)
        if self._store.get(_SEEN, envelope.dedup_key) is not None:
            return _Outcome(None, queue_id)
        if self._blocklist.is_blocked(envelope.sender):
            # Dropped unread: a blocked account's sessions are never touched.
            log.info("dropping a message from a blocked account")
            return _Outcome(None, queue_id)
        try:
            message = await self._decrypt_and_store(envelope)
        except IdentityChanged:
            log.warning(
                "holding a message from %s until its new identity is trusted", envelope.sender
            )
            return _Outcome(None, None)
        except (SecurityError, UnknownAccount, InvalidMessage, ProtocolError) as exc:
            log.warning("dropping a message from %s: %s", envelope.sender, exc)
            return _Outcome(None, queue_id)
        return _Outcome(message, queue_id)

    async def _sender_device(self, envelope: InboundEnvelope) -> DeviceEntry:
        """The sender device's entry in its verified device list. The cached list is
        refreshed once if it lacks the device or names another identity than the
        message (or our session) claims, e.g. after the sender added a device."""
        record = SessionRecord.load(self._store, envelope.sender, envelope.sender_device)
        claimed = claimed_identity(record, envelope.kind, envelope.body)
        entry = (await self._contact(envelope.sender)).device(envelope.sender_device)
        if entry is None or (claimed is not None and entry.identity != claimed):
            refreshed = await self._contact(envelope.sender, refresh=True)
            entry = refreshed.device(envelope.sender_device)
        if entry is None:
            raise SecurityError(f"{envelope.sender} lists no device {envelope.sender_device}")
        return entry

    async def _decrypt_and_store(self, envelope: InboundEnvelope) -> ReceivedMessage | None:
        entry = await self._sender_device(envelope)
        # No await from here to the commit (see the module docstring). The dedup mark
        # is checked again: another fetch or listen may have stored it meanwhile.
        if self._store.get(_SEEN, envelope.dedup_key) is not None:
            return None
        record = SessionRecord.load(self._store, envelope.sender, envelope.sender_device)
        opened = decrypt(record, self._identity, self._prekeys.keys, envelope.kind, envelope.body)
        if opened.session.remote_identity != entry.identity:
            raise SecurityError(f"{record.name} used an identity its device list does not hold")
        if envelope.sender == self.address:
            self._store_transcript(envelope, record, opened)
            return None
        check_sender_identity(envelope, opened.session.remote_identity)
        franked = open_franked(envelope, opened.plaintext, envelope.sender_certificate or b"")
        content = decode_payload(franked.content)
        # A sealed message's outer id is a fresh delivery id (see _deliver).
        if not envelope.sealed and content.message_id != envelope.message_id:
            raise SecurityError(f"{record.name} sent a message whose inner and outer ids differ")
        if isinstance(content, ReceiptContent | DeleteContent | TypingContent):
            self._store_control(envelope, record, opened, content, franked.profile_key)
            return None
        with self._store.transaction():
            self._sealed.learn(envelope.sender, franked.profile_key)
            self._evidence.keep(content.message_id, envelope, franked, envelope.sender_certificate)
            record.save(self._store)
            if opened.inbound is not None:
                self._prekeys.keys.consume(
                    opened.inbound.one_time_prekey_id,
                    opened.inbound.kem_prekey_id,
                    opened.inbound.kem_prekey_last_resort,
                )
            self._store.put(_SEEN, envelope.dedup_key, b"")
            # A stranger's first message opens a message request (client.requests).
            self._requests.incoming(envelope.sender, _now_ms())
            self._record(envelope.sender, content, "in", _now_ms(), envelope.server_ts)
            self._gossip.heard(envelope.sender, content.tree_head)
        if self._receipts.enabled() and not self._requests.is_request(envelope.sender):
            self._pending_receipts.setdefault(envelope.sender, []).append(content.message_id)
        return ReceivedMessage(
            content.message_id,
            envelope.sender,
            envelope.sender_device,
            content.text,
            datetime_from_ms(content.sent_at_ms),
            datetime_from_ms(_now_ms()),
            content.forwarded,
        )

    def _store_control(
        self,
        envelope: InboundEnvelope,
        record: SessionRecord,
        opened: Decrypted,
        control: ReceiptContent | DeleteContent | TypingContent,
        profile_key: bytes | None,
    ) -> None:
        """A receipt moves our sent messages forward; a deletion withdraws one of the
        sender's messages. Neither is a message of its own."""
        removed: list[dict[str, object]] = []
        with self._store.transaction():
            self._sealed.learn(envelope.sender, profile_key)
            record.save(self._store)
            if opened.inbound is not None:
                self._prekeys.keys.consume(
                    opened.inbound.one_time_prekey_id,
                    opened.inbound.kem_prekey_id,
                    opened.inbound.kem_prekey_last_resort,
                )
            self._store.put(_SEEN, envelope.dedup_key, b"")
            changed = False
            if isinstance(control, ReceiptContent):
                changed = bool(
                    self._receipts.apply(envelope.sender, control.receipt_type, control.message_ids)
                )
            elif isinstance(control, DeleteContent):
                removed, _ = self._store.delete_history_where(
                    envelope.sender,
                    lambda e: (
                        e.get("id") == control.target
                        and e.get("direction") == "in"
                        # On the server's clock, not the dates the sender wrote.
                        and deletion.withdrawable(e, envelope.server_ts)
                    ),
                )
                if removed:
                    self._history.refresh_conversation(envelope.sender)
                changed = bool(removed)
        self._forget_attachments(removed)
        if changed and self.on_update is not None:
            self.on_update(envelope.sender)
        if (
            isinstance(control, TypingContent)
            and control.sent_at_ms >= _now_ms() - TYPING_FRESH_MS
            and self.on_typing is not None
            and self._receipts.enabled(TYPING)
        ):
            self.on_typing(envelope.sender, control.started)

    def _forget_attachments(self, entries: list[dict[str, object]]) -> None:
        for entry in entries:
            attachment = entry.get("att")
            blob = attachment.get("blob") if isinstance(attachment, dict) else None
            if isinstance(blob, str) and "/" not in blob:
                (self._store.directory / ATTACHMENT_DIR / blob).unlink(missing_ok=True)

    # -- deleting (client.deletion) ---------------------------------------------------

    async def delete_for_me(self, peer: str, message_id: str) -> None:
        """Remove a message from this device's history (and its downloaded file), and
        from this account's other devices (``client.own_sync``); the peer keeps it."""
        peer = str(Address.parse(peer))
        sync = DeleteForMeSync(new_message_id(), peer, (message_id,))
        with self._store.transaction():
            found = (
                deletion.remove(self._store, self._history, peer, message_id, direction)
                for direction in ("in", "out")
            )
            removed = [entry for entry in found if entry is not None]
            if removed:
                self._outbox.queue(sync.message_id, sync.encode())
        if not removed:
            raise ClientError(f"no message {message_id} with {peer} on this device")
        self._forget_attachments(removed)
        await self._outbox.flush()

    async def delete_for_everyone(self, peer: str, message_id: str) -> None:
        """Withdraw a message this account sent to ``peer``: every device of theirs
        removes it, if this happens within ``deletion.DELETE_FOR_EVERYONE_S``."""
        peer = str(Address.parse(peer))
        entry = next(
            (
                e
                for e in self._history.entries(peer, FORWARD_SEARCH_DEPTH)
                if e.message_id == message_id and e.direction == "out"
            ),
            None,
        )
        if entry is None:
            raise ClientError(f"you sent no message {message_id} to {peer}")
        now = _now_ms()
        if not deletion.within_window(int(entry.timestamp.timestamp() * 1000), now):
            hours = deletion.DELETE_FOR_EVERYONE_S // 3600
            raise ClientError(f"a message can be deleted for everyone within {hours} hours")
        withdrawal = DeleteContent(new_message_id(), message_id, now)
        # The sent transcript of the withdrawal removes it on this account's devices too.
        await self._transmit(withdrawal.message_id, peer, withdrawal.encode(), own_copies=True)
        with self._store.transaction():
            removed = deletion.remove(self._store, self._history, peer, message_id, "out")
        self._forget_attachments([removed] if removed else [])

    def _store_transcript(
        self, envelope: InboundEnvelope, record: SessionRecord, opened: Decrypted
    ) -> None:
        """What another device of this account sent or did: sent history, or a
        deletion or timer change to apply here too (``client.own_sync``)."""
        sync = decode_sync(opened.plaintext)
        if sync.message_id != envelope.message_id:
            raise SecurityError(f"{record.name} sent a message whose inner and outer ids differ")
        with self._store.transaction():
            record.save(self._store)
            if opened.inbound is not None:
                self._prekeys.keys.consume(
                    opened.inbound.one_time_prekey_id,
                    opened.inbound.kem_prekey_id,
                    opened.inbound.kem_prekey_last_resort,
                )
            self._store.put(_SEEN, envelope.dedup_key, b"")
            if isinstance(sync, DeviceReadySync):
                self._device_ready = True  # acted on by _add_ready_device
                return
            applied = apply_sync(
                sync,
                self._store,
                self._history,
                self._disappearing,
                lambda peer, content: self._record(peer, content, "out", content.sent_at_ms),
            )
        self._forget_attachments(applied.removed)
        group = self._groups.name_of(applied.peer)  # a group's delete for me
        if group is not None:
            if self._groups.on_update is not None:
                self._groups.on_update(f"#{group}")
        elif self.on_update is not None:
            self.on_update(applied.peer)

    async def _send_to_own_devices(self, message_id: str, payload: bytes) -> None:
        """``payload`` to this account's other devices only (a sync message)."""
        for attempt in range(STALE_DEVICE_ATTEMPTS):
            own = await self._contact(self.address, refresh=attempt > 0)
            others = tuple(d for d in own.devices if d.device_id != self.device_id)
            if not others:
                return
            others_list = DeviceList(own.address, own.version, others)
            envelopes = await self._encrypt_for(self.address, others_list, payload)
            try:
                await self._post(message_id, self.address, envelopes)
                return
            except ServerError as exc:
                if exc.problem_type != "stale-devices" or attempt == STALE_DEVICE_ATTEMPTS - 1:
                    raise

    def _record(
        self,
        peer: str,
        content: TextContent,
        direction: Direction,
        timer_start_ms: int,
        server_ts_ms: int | None = None,
    ) -> None:
        """Into history, inside the caller's transaction. The message's timer becomes
        the conversation's (``client.disappearing``) and starts at ``timer_start_ms``;
        ``server_ts_ms`` is when the server stored a received one (``client.deletion``)."""
        if content.timer_s != self._disappearing.timer(peer):
            self._disappearing.set_timer(peer, content.timer_s)
        expires = timer_start_ms + content.timer_s * 1000 if content.timer_s else None
        if expires is not None:
            self._disappearing.due_at(peer, expires)
        self._history.record(
            peer,
            content.message_id,
            direction,
            content.text,
            content.sent_at_ms,
            content.forwarded,
            content.attachment,
            expires,
            content.quote,
            server_ts_ms,
        )

    # -- linked devices, key transparency, safety numbers ----------------------------

    async def check_transparency(self) -> None:
        """Follow the log to its newest head and check this account's own entries.

        Whatever is wrong is recorded as an alert (:meth:`security_alerts`) and raised
        as :class:`SecurityAlert` by the operation that depends on it; here it is only
        logged, so that messages can still be fetched."""
        try:
            await self._kt.sync()
        except SecurityAlert as exc:
            log.warning("%s", exc)

    def security_alerts(self) -> list[Alert]:
        """Alerts not yet dismissed, oldest first (``client.alerts``)."""
        return self._alerts.unseen()

    def dismiss_alerts(self, alerts: list[Alert]) -> None:
        self._alerts.dismiss(alerts)

    def alert_evidence(self) -> list[Alert]:
        """Alerts that came with evidence (a fork's two signed heads), kept after they
        are dismissed so that the evidence can be reported (``client.alerts``)."""
        return self._alerts.with_evidence()

    async def devices(self, *, refresh: bool = True) -> list[DeviceInfo]:
        """This account's devices, as its account key signed them."""
        if refresh:
            await self._own.refresh()
        return await self._own.info()

    async def accept_link(self, code: str) -> int:
        """Add the device showing ``code`` to this account; returns its device id."""
        contacts = contact_records(self._store)
        addresses = [str(c.get("address")) for c in contacts]
        return await self._own.accept_link(code, contacts, self._sealed.export(addresses))

    async def remove_device(self, device_id: int) -> None:
        """Remove a device: its queue is deleted, nobody encrypts to it any more, and
        it is removed from every group."""
        await self._own.remove(device_id)
        await self._follow_own_devices()

    async def safety_number(self, peer: str) -> SafetyNumber:
        """The safety number with ``peer``, from freshly verified device lists."""
        peer = str(Address.parse(peer))
        devices = await self._contact(peer, refresh=True)
        key = self._contacts.pinned_key(peer)
        if key is None or self._contacts.device_list(peer) is None:
            raise IdentityChanged(peer)
        own = await self._own.refresh()
        return safety_number(self.address, self._account_key.public, own, peer, key, devices)

    def mark_verified(self, peer: str, number: SafetyNumber) -> None:
        """Record that the person compared ``number`` with ``peer``; a later change of
        the peer's keys or devices then blocks sending until confirmed again."""
        self._verifications.mark(str(Address.parse(peer)), number)

    def is_verified(self, peer: str) -> bool:
        return self._verifications.is_verified(str(Address.parse(peer)))

    async def verification_lapsed(self, peer: str) -> bool:
        """Whether ``peer`` was marked verified and their key or devices changed since
        (from a fresh device list): sending to them is refused
        (:class:`VerificationRequired`) until the new safety number is compared."""
        peer = str(Address.parse(peer))
        if not self.is_verified(peer):
            return False
        devices = await self._contact(peer, refresh=True)
        key = self._contacts.pinned_key(peer)
        return key is None or self._verifications.changed(peer, key, devices)

    # -- attachments and disappearing messages (docs/app.md) ----------------------

    async def upload_attachment(
        self,
        source: AsyncIterable[bytes],
        size: int,
        name: str,
        media_type: str,
        *,
        thumbnail: str | None = None,
        progress: Progress | None = None,
    ) -> AttachmentPointer:
        """Encrypt a file as it streams in and upload the ciphertext; send the pointer
        with :meth:`send` (``attachment=``). Until it completes the upload is kept
        in the store, so that a later process can finish it (:meth:`resume_upload`)."""
        return await attachments.upload(
            self._transport,
            source,
            size,
            name,
            media_type,
            thumbnail=thumbnail,
            progress=progress,
            journal=self._uploads,
        )

    def pending_uploads(self) -> list[PendingUpload]:
        """Uploads a process started and did not finish (it stopped or crashed)."""
        return self._uploads.all()

    async def resume_upload(
        self,
        blob_id: str,
        source: AsyncIterable[bytes],
        *,
        thumbnail: str | None = None,
        progress: Progress | None = None,
    ) -> AttachmentPointer:
        """Finish a pending upload; ``source`` is the same file again, from its start."""
        pending = self._uploads.get(blob_id)
        if pending is None:
            raise attachments.AttachmentError("there is no unfinished upload with that id")
        return await attachments.resume(
            self._transport,
            pending,
            source,
            thumbnail=thumbnail,
            progress=progress,
            journal=self._uploads,
        )

    def discard_upload(self, blob_id: str) -> None:
        """Give up a pending upload (the server sweeps the partial blob later)."""
        self._uploads.finish(blob_id)

    def attachment_file(self, pointer: AttachmentPointer) -> Path:
        """Where a downloaded attachment's (still encrypted, checked) ciphertext lives."""
        return self._store.directory / ATTACHMENT_DIR / pointer.blob_id

    async def download_attachment(
        self, pointer: AttachmentPointer, *, progress: Progress | None = None
    ) -> Path:
        """Download and integrity-check an attachment once; its ciphertext file.
        Read the plaintext with :func:`sottovoce.client.attachments.decrypt_file`."""
        path = self.attachment_file(pointer)
        if not path.exists():
            path.parent.mkdir(mode=0o700, exist_ok=True)
            await attachments.download(self._transport, pointer, path, progress=progress)
        return path

    def disappearing_timer(self, peer: str) -> int:
        """The conversation's timer in seconds (0: off)."""
        return self._disappearing.timer(str(Address.parse(peer)))

    async def set_disappearing_timer(self, peer: str, seconds: int) -> None:
        """Messages from now on disappear ``seconds`` after sending or receipt; the
        timer travels in each message, so the peer's devices follow, and this
        account's other devices are told at once (``client.own_sync``)."""
        peer = str(Address.parse(peer))
        sync = TimerSync(new_message_id(), peer, seconds, _now_ms())
        with self._store.transaction():
            self._disappearing.set_timer(peer, seconds)
            self._outbox.queue(sync.message_id, sync.encode())
        await self._outbox.flush()

    def expire_messages(self, now_ms: int | None = None) -> list[Expired]:
        """Remove expired disappearing messages and their downloaded attachments."""
        gone = self._disappearing.sweep(_now_ms() if now_ms is None else now_ms)
        for peer in {g.peer for g in gone}:
            with self._store.transaction():
                self._history.refresh_conversation(peer)
                self._groups.chat.forget_receipts([g.message_id for g in gone if g.peer == peer])
        for g in gone:
            if g.blob_id is not None:
                (self._store.directory / ATTACHMENT_DIR / g.blob_id).unlink(missing_ok=True)
        return gone

    def export_backup(
        self, destination: Path, passphrase: str, *, argon2: Argon2Parameters | None = None
    ) -> None:
        """This profile (keys, contacts, history) as one file sealed under a recovery
        passphrase; :func:`sottovoce.client.backup.restore_backup` brings it back."""
        backup.export_backup(self._store, destination, passphrase, argon2=argon2)

    # -- history ---------------------------------------------------------------

    def history(self, peer: str, limit: int = 100) -> list[HistoryEntry]:
        """The last ``limit`` messages with ``peer``, oldest first; marks them read."""
        peer = str(Address.parse(peer))
        if limit < 1:
            raise ClientError(f"a history limit must be at least 1, not {limit}")
        entries = self._history.entries(peer, limit)
        self._history.mark_read(peer)
        return entries

    def history_page(
        self, peer: str, limit: int, before: int | None = None, *, mark_read: bool = False
    ) -> tuple[list[HistoryEntry], int | None]:
        """A page of ``limit`` messages with ``peer`` older than the cursor ``before``
        (the latest page when None), oldest first, and the cursor of the page before
        it (None when this page reaches the first message); ``mark_read`` marks the
        conversation read, as a view showing the latest page does."""
        peer = str(Address.parse(peer))
        if limit < 1:
            raise ClientError(f"a history limit must be at least 1, not {limit}")
        if before is not None and before < 1:
            raise ClientError(f"a history cursor must be at least 1, not {before}")
        page = self._history.page(peer, limit, before)
        if mark_read:
            self._history.mark_read(peer)
        return page

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages of this device's history containing ``query``, newest first; local
        only, and nothing is marked read (``client.search``)."""
        return search_history(self._history, self._groups, self.address, query, limit)

    def conversations(self) -> list[Conversation]:
        """Every conversation, the most recent first. Open message requests are marked
        ``request`` (and listed by :meth:`requests`): show them apart."""
        return [
            replace(c, request=True) if self._requests.is_request(c.peer) else c
            for c in self._history.conversations()
        ]

    # -- safety: message requests, blocks, forwarding (docs/safety.md) ------------

    def requests(self) -> list[MessageRequest]:
        """Conversations strangers started that await accept, delete or block."""
        return self._requests.pending()

    def is_request(self, peer: str) -> bool:
        return self._requests.is_request(str(Address.parse(peer)))

    async def accept_request(self, peer: str) -> None:
        """Move ``peer``'s request into the conversations. A minor's account also
        tells the server, which from then on lets that adult reach it."""
        peer = str(Address.parse(peer))
        if not self._requests.is_request(peer):
            raise ClientError(f"there is no message request from {peer}")
        if (await self.safety_status()).minor:
            await self._transport.request("PUT", f"/v1/connections/{peer}")
        with self._store.transaction():
            self._requests.accept(peer)

    def delete_request(self, peer: str) -> None:
        """Drop ``peer``'s request and its messages; a new message opens a new one."""
        peer = str(Address.parse(peer))
        with self._store.transaction():
            self._requests.delete(peer)
            self._evidence.forget(peer)

    async def block(self, peer: str, *, report: bool = False) -> None:
        """Block ``peer``: whatever any of its devices sends is dropped unread, and an
        open request from it is deleted. ``report`` also tells the server ("block
        and report"), which then stops delivering its unsealed messages to us and
        counts the block as an abuse signal; a plain block stays on this device."""
        peer = str(Address.parse(peer))
        if peer == self.address:
            raise InvalidAddress("you cannot block yourself")
        if report:
            await self._transport.request("PUT", f"/v1/blocks/{peer}")
        elif (await self.safety_status()).minor:
            await self._withdraw_connection(peer)
        with self._store.transaction():
            self._blocklist.add(peer, reported=report, now_ms=_now_ms())
            if self._requests.is_request(peer):
                self._requests.delete(peer)
                self._evidence.forget(peer)
        # As Signal does: a new profile key, so the blocked account's copy of the old
        # one no longer lets it send sealed; it can only write unsealed, naming itself.
        self._sealed.forget(peer)
        await self._sealed.rotate_profile_key()

    async def _withdraw_connection(self, peer: str) -> None:
        try:
            await self._transport.request("DELETE", f"/v1/connections/{peer}")
        except ServerError as exc:
            if exc.status != 404:
                raise

    def set_group_invites_from_anyone(self, on: bool) -> None:
        """Let anyone add this account's device to groups without a request (off by
        default: a stranger's invite is a message request, as in Signal)."""
        self._requests.set_anyone_may_add(on)

    def group_invites_from_anyone(self) -> bool:
        return self._requests.anyone_may_add()

    def group_requests(self) -> list[GroupRequest]:
        """Groups strangers added this device to, whose messages wait unseen until
        :meth:`accept_group_request`; :meth:`decline_group_request` leaves them."""
        return self._requests.pending_groups(self._groups)

    def accept_group_request(self, group: str) -> None:
        """Show the group: its held messages are in ``groups.history(group)``."""
        group_id = self._groups.info(group).group_id
        self._requests.invited_by(group_id)  # raises if there is no such request
        with self._store.transaction():
            self._requests.settle_group(group_id)

    async def decline_group_request(self, group: str) -> None:
        """Leave the group a stranger added this device to, and forget its messages."""
        group_id = self._groups.info(group).group_id
        self._requests.invited_by(group_id)
        await self._groups.leave(group)
        with self._store.transaction():
            self._requests.settle_group(group_id)
            self._store.delete_history(history_peer(group_id))

    async def report_request(self, peer: str, reason: str) -> FiledReport:
        """Report the latest messages of ``peer``'s request (as many as one report
        carries), then block and report the sender: "report spam and block"."""
        peer = str(Address.parse(peer))
        if not self._requests.is_request(peer):
            raise ClientError(f"there is no message request from {peer}")
        received = [e.message_id for e in self._history.entries(peer, MESSAGES_PER_REPORT)]
        filed = await self.report(received, reason)
        await self.block(peer, report=True)
        return filed

    async def unblock(self, peer: str) -> None:
        """Let ``peer``'s messages through again (a reported block is withdrawn)."""
        peer = str(Address.parse(peer))
        block = self._blocklist.get(peer)
        if block is None:
            raise ClientError(f"{peer} is not blocked")
        if block.reported:
            await self._transport.request("DELETE", f"/v1/blocks/{peer}")
        with self._store.transaction():
            self._blocklist.remove(peer)

    def blocked(self) -> list[BlockedAccount]:
        return self._blocklist.all()

    async def safety_status(self) -> SafetyStatus:
        """Whether the server holds this account as a minor's, and its standing."""
        answer = await self._transport.request("GET", "/v1/safety")
        reason = answer.get("reason")
        return SafetyStatus(
            sj.boolean(answer, "minor", "safety"),
            sj.string(answer, "standing", "safety"),
            reason if isinstance(reason, str) else None,
        )

    def find_message(self, message_id: str) -> HistoryEntry:
        """A message of this device's history by its id (the most recent chats first)."""
        for conversation in self._history.conversations():
            for entry in self._history.entries(conversation.peer, FORWARD_SEARCH_DEPTH):
                if entry.message_id == message_id:
                    return entry
        raise ClientError(f"no message {message_id} in this device's history")

    async def forward(self, message_id: str, targets: list[str]) -> list[SentMessage]:
        """Send message ``message_id`` (its text and attachment) on to each chat in
        ``targets``, its forward count one higher; a highly forwarded message goes to
        at most five chats at once (``client.forwarding``)."""
        entry = self.find_message(message_id)
        checked = forward_targets(entry.forwarded, targets, self.address)
        return [
            await self.send(
                target, entry.text, forwarded=entry.forwarded + 1, attachment=entry.attachment
            )
            for target in checked
        ]


async def _register(transport: Transport, payload: dict[str, object], account_key: bytes) -> None:
    """``POST /v1/accounts``, signed by the new device's key (proof of possession).

    If the answer is lost the request is sent again; the server then says
    ``handle-taken``, and the account is ours if it holds our account key.
    """
    backoff = Backoff()
    sent = False
    for attempt in range(POST_ATTEMPTS):
        try:
            await transport.request("POST", "/v1/accounts", payload)
            return
        except NetworkError:
            if attempt == POST_ATTEMPTS - 1:
                raise
            sent = True
            await asyncio.sleep(backoff.next_delay())
        except ServerError as exc:
            if sent and exc.problem_type == "handle-taken":
                address = Address.parse(transport.address)
                view = await transport.request(
                    "GET", f"/v1/accounts/{address.app}/{address.handle}"
                )
                if sj.binary(view, "account_key", "account") == account_key:
                    return
            raise
