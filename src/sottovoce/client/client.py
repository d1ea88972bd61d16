"""The Client: one device of one account, usable by any program without the CLI.

It ties the pieces together: the encrypted local store (``store``) and the
profile's account (``account_record``), this device's prekeys on the server
(``prekey_supply``), contacts pinned on first use (``contacts``), the way out for
one-to-one payloads (``outgoing``) and the way in for every delivered envelope
(``incoming``, taken from the server's queue by ``inbox``), groups (``groups``)
and the signed transport. All network I/O of the SDK starts here.

Two rules keep state consistent when ``send``, ``fetch`` and ``listen`` run
concurrently in one event loop: a session is read, used and written back with
no ``await`` in between, and everything a received message changes is written
in one store transaction that commits before the server is told to forget it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from sottovoce.client import account_record, attachments, backup, deletion
from sottovoce.client import server_json as sj
from sottovoce.client.address import Address
from sottovoce.client.alerts import Alert, Alerts, SecurityAlert
from sottovoce.client.attachment_files import attachment_path, forget_attachments, forget_blob
from sottovoce.client.attachments import AttachmentPointer, Progress
from sottovoce.client.blocklist import BlockedAccount, BlockList
from sottovoce.client.contacts import ContactBook, verify_view
from sottovoce.client.content import (
    MAX_QUOTE_CHARS,
    MAX_RECEIPT_IDS,
    DeleteContent,
    Quote,
    TextContent,
    TypingContent,
)
from sottovoce.client.devices import (
    DeviceInfo,
    OwnDevices,
    PendingLink,
    Provisioned,
    contact_records,
)
from sottovoce.client.disappearing import Disappearing, Expired
from sottovoce.client.errors import (
    ClientError,
    IdentityChanged,
    InvalidAddress,
    SecurityError,
    ServerError,
    UnknownAccount,
)
from sottovoce.client.forwarding import forward_targets
from sottovoce.client.franking import FiledReport, FrankingEvidence, file_report
from sottovoce.client.group_chat import history_peer
from sottovoce.client.groups import Groups
from sottovoce.client.head_gossip import HeadGossip
from sottovoce.client.history import History
from sottovoce.client.inbox import Inbox
from sottovoce.client.incoming import Incoming
from sottovoce.client.message_id import new_message_id
from sottovoce.client.messages import (
    Conversation,
    HistoryEntry,
    ReceivedMessage,
    SentMessage,
    datetime_from_ms,
)
from sottovoce.client.outgoing import Outgoing
from sottovoce.client.own_sync import Outbox
from sottovoce.client.prekey_supply import PreKeySupply
from sottovoce.client.receipts import TYPING, Receipts
from sottovoce.client.requests import GroupRequest, MessageRequest, MessageRequests
from sottovoce.client.safety import Verifications, safety_number
from sottovoce.client.sealed import SealedSender
from sottovoce.client.search import SearchHit
from sottovoce.client.search import search as search_history
from sottovoce.client.store import Store
from sottovoce.client.sync_content import (
    DeleteForMeSync,
    DeviceReadySync,
    TimerSync,
)
from sottovoce.client.text_record import record_text
from sottovoce.client.transparency import LogMonitor, Lookup
from sottovoce.client.transport import Transport
from sottovoce.client.upload_journal import PendingUpload, UploadJournal
from sottovoce.crypto.password import Argon2Parameters
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceList
from sottovoce.protocol.public.tree_head import SignedTreeHead
from sottovoce.protocol.safety_number import SafetyNumber

log = logging.getLogger("sottovoce.client")

# Messages one report carries (the server's MAX_MESSAGES_PER_REPORT).
MESSAGES_PER_REPORT = 20
# How far back in each conversation forward() looks for the message it is given.
FORWARD_SEARCH_DEPTH = 1_000

# The own device-list version every group has been brought in line with.
_GROUPS_FOLLOW = "groups_follow_devices"
_SELF = "self"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class SafetyStatus:
    """This account as the server sees it (``GET /v1/safety``)."""

    minor: bool
    standing: str
    reason: str | None


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
        # Delivery and read receipts, and typing indicators (client.receipts).
        self._receipts = Receipts(store)
        # Linked devices, key transparency and safety numbers (docs/transparency.md).
        self._account_key = account_record.account_key(store)
        self._alerts = Alerts(store)
        self._kt = LogMonitor(store, transport, self._alerts, self._account_key.public)
        self._gossip = HeadGossip(store, self._kt)
        self._own = OwnDevices(store, transport, self._account_key, self._kt, self._alerts)
        self._verifications = Verifications(store)
        # Sealed sender and franking (docs/safety.md).
        self._sealed = SealedSender(store, transport, identity, self._account_key)
        self._evidence = FrankingEvidence(store, transport.device_id)
        self._outgoing = Outgoing(
            store,
            identity,
            transport,
            self._account_key.public,
            self._contacts,
            self._verifications,
            self._sealed,
            self._contact,
        )
        # Deletions and timer changes made here, for this account's other devices.
        self._outbox = Outbox(store, self._outgoing.send_to_own_devices)
        # Groups on MLS (docs/groups.md); a rebase first takes the queue in (_catch_up).
        self._groups = Groups(
            store,
            transport,
            identity.signing_key,
            self._contact,
            self._catch_up,
            self._outbox,
            self._gossip,
        )
        # A stranger adding this device to a group is a message request (docs/safety.md).
        self._groups.on_join = lambda group_id, inviter: self._requests.group_invite(
            group_id, inviter, self.address, _now_ms()
        )
        # Receipts, typing and deletions in groups follow the same rules (client.group_chat).
        self._groups.is_request = self._requests.is_group_request
        self._groups.is_blocked = self._blocklist.is_blocked
        self._groups.forget_attachments = self._forget_attachments
        # Delivered envelopes in (client.incoming), taken from the queue (client.inbox).
        self._incoming = Incoming(
            store,
            identity,
            transport,
            self._contact,
            self._prekeys,
            self._sealed,
            self._evidence,
            self._blocklist,
            self._requests,
            self._history,
            self._disappearing,
            self._receipts,
            self._gossip,
            self._groups,
        )
        self._inbox = Inbox(
            transport,
            self._incoming,
            self._prekeys,
            self._groups.key_packages,
            self._before_receiving,
            self._after_receiving,
        )
        self._following_devices = False
        self._closed = False

    @property
    def on_update(self) -> Callable[[str], None] | None:
        """Hears of each peer whose conversation changed without a new message: a
        receipt moved a sent message's state, or a message was deleted for everyone."""
        return self._incoming.on_update

    @on_update.setter
    def on_update(self, callback: Callable[[str], None] | None) -> None:
        self._incoming.on_update = callback

    @property
    def on_typing(self) -> Callable[[str, bool], None] | None:
        """Typing indicators (``client.receipts``): ``on_typing(peer, started)``."""
        return self._incoming.on_typing

    @on_typing.setter
    def on_typing(self, callback: Callable[[str, bool], None] | None) -> None:
        self._incoming.on_typing = callback

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
        account = account_record.AccountRecord(
            address,
            account_record.FIRST_DEVICE_ID,
            account_record.checked_server_url(server_url),
            IdentityKeyPair.generate(),
        )
        Store.ensure_absent(profile_dir)
        identity = account.identity
        account_key = SigningKey.generate()
        device_list = account_record.first_device_list(address, identity)
        signed_list = device_list.sign(account_key)
        # Argon2id takes a second on purpose; keep the event loop responsive.
        store = await asyncio.to_thread(Store.create, profile_dir, passphrase, argon2)
        transport = account.transport()
        try:
            account_record.write(store, account, account_key, signed_list)
            await account_record.register(
                transport,
                {
                    "app": app,
                    "handle": handle,
                    "account_key": sj.b64(account_key.public),
                    "identity": sj.b64(identity.public.to_bytes()),
                    "device_list": sj.b64(signed_list),
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
            client._kt.record_own_list(signed_list, device_list.version)
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
        url = account_record.checked_server_url(server_url)
        transport = Transport(url, "", 0, SigningKey.generate())
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
        server_url = account_record.checked_server_url(server_url)
        Store.ensure_absent(profile_dir)
        try:
            provisioned: Provisioned = await pending.wait()
        finally:
            await pending.close()
        store = await asyncio.to_thread(Store.create, profile_dir, passphrase, argon2)
        account = account_record.AccountRecord(
            provisioned.address, provisioned.device_id, server_url, pending.identity
        )
        try:
            account_record.write(
                store,
                account,
                provisioned.account_key,
                provisioned.device_list,
                provisioned.contacts,
            )
        except BaseException:
            store.discard()
            raise
        client = cls(store, account.identity, account.transport())
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
            account = account_record.read(store, profile_dir)
        except BaseException:
            store.close()
            raise
        return cls(store, account.identity, account.transport())

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
        if self._kt.latest_head_bytes() is None:
            content.encode()  # empty or oversized text is refused before any request
            # A device that has not followed the log yet: the lookup does, so that even
            # its first message carries a head (client.head_gossip).
            await self._contact(recipient)
        # Encoded once, with the head if one rides along; refused here if empty or
        # oversized, before any request.
        content, payload = self._gossip.encode(recipient, content)
        await self._outgoing.transmit(message_id, recipient, payload, own_copies=True)
        with self._store.transaction():
            self._requests.accept(recipient)
            record_text(self._history, self._disappearing, recipient, content, "out", sent_at)
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
            await self._outgoing.transmit(
                typing.message_id, peer, typing.encode(), own_copies=False
            )

    def message_state(self, message_id: str) -> str | None:
        """A sent message's state: ``sent``, ``delivered`` or ``read``."""
        return self._receipts.state(message_id)

    async def send_read_receipt(self, peer: str, message_ids: list[str]) -> None:
        """Tell ``peer`` its messages were read (when receipts are on and it is not a
        message request)."""
        peer = str(Address.parse(peer))
        if message_ids and self._receipts.enabled() and not self._requests.is_request(peer):
            await self._outgoing.send_receipt(peer, "read", message_ids[-MAX_RECEIPT_IDS:])

    async def _flush_receipts(self) -> None:
        """Delivery receipts for what was just stored (a failure only costs the receipt),
        then the check of the tree heads its senders gossiped (``client.head_gossip``)."""
        for peer, ids in self._incoming.take_pending_receipts().items():
            try:
                await self._outgoing.send_receipt(peer, "delivered", ids[-MAX_RECEIPT_IDS:])
            except ClientError as exc:
                log.info("a delivery receipt to %s failed: %s", peer, exc)
        await self._groups.flush_receipts()
        await self._gossip.check_heard()

    async def report(self, message_ids: list[str], reason: str) -> FiledReport:
        """Report received messages: their content, franking keys and tags go to the
        server, which verifies they were delivered to us and stores the report."""
        return await file_report(self._transport, self._evidence, message_ids, reason)

    async def rotate_profile_key(self) -> None:
        """A new profile key (after blocking someone): whoever holds the old one can
        no longer send us sealed messages; contacts learn the new one from our next
        message to them."""
        await self._sealed.rotate_profile_key()

    # -- receiving -------------------------------------------------------------

    async def fetch(self) -> list[ReceivedMessage]:
        """Pull queued messages over HTTP, decrypt, store, acknowledge.

        Returns only messages never returned before. If the server becomes
        unreachable midway, what was already stored is returned and the rest
        stays queued for the next call.
        """
        return await self._inbox.fetch()

    def listen(self) -> AsyncIterator[ReceivedMessage]:
        """Messages as they arrive over the WebSocket, forever.

        The server first sends the queued backlog, then ``queue_empty``, then new
        messages live. A broken connection is reopened with exponential backoff
        and jitter; what was not acknowledged is sent again and dropped here as a
        duplicate if it was already stored. Only a refused upgrade (e.g. this
        device is unknown to the server) ends the iteration, with ServerError.
        """
        return self._inbox.listen()

    async def _before_receiving(self) -> None:
        """Each fetch and each live connection is a sync: follow the log, bring the
        groups in line with this account's devices, send what the outbox holds."""
        await self.check_transparency()
        await self._follow_own_devices()
        await self._outbox.flush()

    async def _after_receiving(self) -> None:
        """After each page or live batch was committed and acknowledged."""
        await self._flush_receipts()
        await self._add_ready_device()

    async def _catch_up(self) -> None:
        """Process everything queued for this device, for a group rebase (``Inbox``)."""
        await self._inbox.catch_up()

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
        if not self._incoming.take_device_ready():
            return
        try:
            await self.check_transparency()
        except ClientError as exc:
            log.warning("checking the transparency log for a new device failed: %s", exc)
        await self._follow_own_devices()

    def _forget_attachments(self, entries: list[dict[str, object]]) -> None:
        forget_attachments(self._store.directory, entries)

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
        await self._outgoing.transmit(
            withdrawal.message_id, peer, withdrawal.encode(), own_copies=True
        )
        with self._store.transaction():
            removed = deletion.remove(self._store, self._history, peer, message_id, "out")
        self._forget_attachments([removed] if removed else [])

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

    def tree_head(self) -> SignedTreeHead | None:
        """The newest signed tree head of the log this device verified (None before its
        first sync): what it gossips, and what a person hands an auditor to compare
        (``sottovoce audit --compare``, docs/transparency.md)."""
        return self._kt.latest_head()

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
        return attachment_path(self._store.directory, pointer.blob_id)

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
                forget_blob(self._store.directory, g.blob_id)
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
