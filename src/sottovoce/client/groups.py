"""Groups on MLS (RFC 9420) through the server as Delivery Service (docs/groups.md).

Every device is its own MLS member, named by its credential ``handle@app/device``
and signing with its identity key, so a member is a device of an account whose
signed device list the client checks. The server orders commits: it accepts one
per epoch and answers any other with 409 ``stale-epoch``; the losing client then
processes what is queued for it (the winning commit among it) and builds its
commit or message again on the new epoch (:meth:`Groups._rebase`).

State is kept per group in the encrypted local store: the serialized MLS state
(``mls_group``), the local name (``mls_group_name``) and the counters of the
self-update policy. Every group operation of a client runs under one lock; a
received message's effect on the state is saved with its dedup mark in one store
transaction, loaded and saved with nothing awaited in between, so concurrent
``send``, ``fetch`` and ``listen`` never overwrite each other's state and a crash
never applies a message twice.

Post-compromise security: a member that has sent :data:`UPDATE_AFTER_MESSAGES`
messages, or last committed :data:`UPDATE_AFTER_S` ago, first commits an Update
(a commit with an UpdatePath, §12.4) before its next message, replacing its leaf
and path secrets; an attacker who copied the device's state earlier cannot follow
the group past that commit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.address import Address
from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.backoff import Backoff
from sottovoce.client.content import (
    MAX_QUOTE_CHARS,
    MAX_RECEIPT_IDS,
    DeleteContent,
    Quote,
    ReceiptContent,
    TypingContent,
)
from sottovoce.client.deletion import DELETE_FOR_EVERYONE_S, within_window
from sottovoce.client.errors import (
    ClientError,
    MalformedResponse,
    NetworkError,
    ProfileError,
    SecurityError,
    ServerError,
)
from sottovoce.client.group_chat import GroupChat, group_id_of, history_peer, overall_state
from sottovoce.client.group_content import (
    GroupContent,
    GroupTimerContent,
    check_group_name,
    decode_group_payload,
)
from sottovoce.client.group_engine import (
    CommitApplied,
    Decrypted,
    EngineError,
    GroupState,
    Member,
    ProposalReceived,
    check_key_package,
)
from sottovoce.client.group_franking import (
    NO_FRANKING,
    GroupFranking,
    frank_group_content,
    keep_group_evidence,
    open_group_franked,
    parse_group_franking,
)
from sottovoce.client.head_gossip import HeadGossip
from sottovoce.client.key_package_supply import CIPHER_SUITE, KeyPackageSupply
from sottovoce.client.message_id import new_message_id
from sottovoce.client.messages import datetime_from_ms
from sottovoce.client.own_sync import Outbox
from sottovoce.client.receipts import TYPING, TYPING_FRESH_MS, Receipts
from sottovoce.client.store import Store
from sottovoce.client.sync_content import DeleteForMeSync
from sottovoce.client.transport import Transport
from sottovoce.crypto.random import random_bytes
from sottovoce.crypto.signing import SigningKey
from sottovoce.mls.group.credentials import DeviceIdentity
from sottovoce.protocol.public.device_list import DeviceList

log = logging.getLogger("sottovoce.client.groups")

# The queue types of group messages (docs/api.md, Groups).
GROUP_TYPES = frozenset({"mls-commit", "mls-welcome", "mls-proposal", "mls-application"})
# Self-update policy (module docstring): an Update commit after this many messages
# sent by this device in a group, or this long after its last commit there.
# Signal-like usage sends far fewer than 100 messages a day per group, so a busy
# group heals within a day; a quiet one within a week.
UPDATE_AFTER_MESSAGES = 100
UPDATE_AFTER_S = 7 * 24 * 3600
# Rebase attempts of one operation: each loses only to a commit that another member
# got in first, so more than this in a row means the group is flooded with commits.
REBASE_ATTEMPTS = 8
# A commit whose answer was lost is posted again (same message id) this many times.
POST_ATTEMPTS = 5
# Devices one commit adds (server.limits.MAX_DEVICES_PER_COMMIT); more take several.
MAX_ADDS_PER_COMMIT = 64
GROUP_ID_BYTES = 32

_GROUP = "mls_group"
_NAME = "mls_group_name"
# Who added this device to a group, until the group's name arrives (``added`` event).
_ADDED_BY = "mls_group_added_by"
_SEEN = "seen"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _named(identity: DeviceIdentity) -> str:
    """A member as its credential names it: ``handle@app/device``."""
    return bytes(identity).decode()


def path_id(group_id: bytes) -> str:
    return base64.urlsafe_b64encode(group_id).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    group_id: bytes
    epoch: int
    members: tuple[str, ...]
    """Member accounts (``handle@app``), sorted."""


@dataclass(frozen=True, slots=True)
class GroupMessage:
    message_id: str
    group: str
    sender: str
    sender_device: int
    text: str = field(repr=False)
    sent_at: datetime
    attachment: AttachmentPointer | None = None
    quote: Quote | None = field(default=None, repr=False)
    expires_at: datetime | None = None


def _message(group: str, e: dict[str, object]) -> GroupMessage:
    """A history entry of ``client.group_chat`` as the SDK shows it."""
    return GroupMessage(
        str(e["id"]),
        group,
        str(e["sender"]),
        int(str(e["device"])),
        str(e["text"]),
        datetime_from_ms(int(str(e["ts"]))),
        AttachmentPointer.from_json(e["att"]) if "att" in e else None,
        Quote.from_json(e["quote"]) if "quote" in e else None,
        datetime_from_ms(int(str(e["exp"]))) if "exp" in e else None,
    )


@dataclass(frozen=True, slots=True)
class MemberReceipt:
    """How far one other member account got with a message this account sent."""

    member: str
    state: str
    """``sent`` (nothing heard yet), ``delivered`` or ``read``."""


@dataclass(frozen=True, slots=True)
class GroupEvent:
    """A change to a group this device should show: ``joined``, ``added`` (the
    group's name arrived after a Welcome from ``actor``), ``left`` (the device was
    removed), ``renamed``, ``changed`` (a receipt, deletion or timer from ``actor``
    changed what the group shows), ``typing`` (``actor`` ``started`` or stopped);
    ``message`` is set for a received text."""

    kind: str
    group: str
    group_id: bytes
    actor: str | None = None
    message: GroupMessage | None = None
    started: bool = False


@dataclass(slots=True)
class _Record:
    """One group in the local store."""

    group_id: bytes
    name: str
    state: GroupState
    sent_since_update: int
    last_commit_ms: int
    departed: list[str]
    vouched: list[str]

    def to_json(self) -> dict[str, object]:
        return {
            "group_id": sj.b64(self.group_id),
            "name": self.name,
            "state": sj.b64(self.state.to_bytes()),
            "sent_since_update": self.sent_since_update,
            "last_commit_ms": self.last_commit_ms,
            "departed": self.departed,
            "vouched": self.vouched,
        }

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> _Record:
        try:
            departed, vouched = obj.get("departed", []), obj.get("vouched", [])
            for strings in (departed, vouched):
                if not isinstance(strings, list) or not all(isinstance(d, str) for d in strings):
                    raise MalformedResponse("departed or vouched")
            assert isinstance(departed, list) and isinstance(vouched, list)
            return cls(
                sj.binary(obj, "group_id", "group"),
                sj.string(obj, "name", "group"),
                GroupState.from_bytes(sj.binary(obj, "state", "group")),
                sj.integer(obj, "sent_since_update", "group"),
                sj.integer(obj, "last_commit_ms", "group"),
                list(departed),
                list(vouched),
            )
        except (MalformedResponse, EngineError) as exc:
            raise ProfileError("a group record of the local store is damaged") from exc


@dataclass(frozen=True, slots=True)
class _GroupEnvelope:
    queue_id: int
    message_id: str
    sender: str
    sender_device: int
    type: str
    body: bytes
    franking: GroupFranking = NO_FRANKING

    @property
    def dedup_key(self) -> str:
        return f"{self.sender}/{self.sender_device}/{self.message_id}"


def parse_group_envelope(raw: object) -> _GroupEnvelope:
    obj = sj.as_object(raw, "envelope")
    kind = sj.string(obj, "type", "envelope")
    if kind not in GROUP_TYPES:
        raise MalformedResponse("envelope.type is not a group message type")
    sender = sj.string(obj, "sender", "envelope")
    try:
        sender = str(Address.parse(sender))
    except ClientError as exc:
        raise MalformedResponse("envelope.sender is not an address") from exc
    device = sj.integer(obj, "sender_device", "envelope")
    message_id = sj.string(obj, "message_id", "envelope")
    if device < 1 or not message_id or "/" in message_id or len(message_id) > 64:
        raise MalformedResponse("envelope.sender_device or message_id is malformed")
    return _GroupEnvelope(
        sj.integer(obj, "id", "envelope"),
        message_id,
        sender,
        device,
        kind,
        sj.binary(obj, "body", "envelope"),
        parse_group_franking(obj),
    )


class Groups:
    """The groups of one device. Made by :class:`~sottovoce.client.client.Client`,
    which hands it what it needs: the store, the transport, this device's identity,
    the verified device list of any account (``device_list``), a way to process
    everything queued for this device (``catch_up``, used to rebase), the outbox
    to this account's other devices (``own_sync``, for delete for me) and the
    gossip of tree heads (``gossip``: group texts carry heads as one-to-one ones do)."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        signer: SigningKey,
        device_list: Callable[..., Awaitable[DeviceList]],
        catch_up: Callable[[], Awaitable[object]],
        own_sync: Outbox,
        gossip: HeadGossip,
    ) -> None:
        self._store = store
        self._own_sync = own_sync
        self._gossip = gossip
        self._transport = transport
        self._signer = signer
        self._device_list = device_list
        self._catch_up = catch_up
        self.identity = DeviceIdentity(transport.address, transport.device_id)
        self.key_packages = KeyPackageSupply(store, transport, self.identity, signer)
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        # Called inside a join's transaction with the group and its inviter: a
        # stranger's invite becomes a message request (client.requests).
        self.on_join: Callable[[bytes, str], object] | None = None
        # The conversation of each group (client.group_chat) and the receipt and
        # typing settings it shares with one-to-one chats (client.receipts).
        self.chat = GroupChat(store)
        self._settings = Receipts(store)
        self._pending_receipts: dict[bytes, list[str]] = {}
        # Set by the Client: a group still a message request gets no receipts or
        # typing; a blocked account's receipts and typing are not shown; downloaded
        # attachments of removed messages are deleted.
        self.is_request: Callable[[bytes], bool] = lambda _: False
        self.is_blocked: Callable[[str], bool] = lambda _: False
        self.forget_attachments: Callable[[list[dict[str, object]]], None] = lambda _: None
        # ``on_update("#name")``: a receipt, deletion or timer changed a group's view;
        # ``on_typing("#name", member, started)``.
        self.on_update: Callable[[str], None] | None = None
        self.on_typing: Callable[[str, str, bool], None] | None = None

    # -- the lock: one group operation at a time, re-entered by the rebase ----------

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        if self._owner is not None and self._owner is asyncio.current_task():
            yield
            return
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                yield
            finally:
                self._owner = None

    # -- records --------------------------------------------------------------------

    def _load(self, group_id: bytes) -> _Record | None:
        obj = self._store.get_json(_GROUP, group_id.hex())
        return None if obj is None else _Record.from_json(obj)

    def _save(self, record: _Record) -> None:
        self._store.put_json(_GROUP, record.group_id.hex(), record.to_json())
        self._store.put(_NAME, record.name, record.group_id)

    def _forget(self, record: _Record) -> None:
        self._store.delete(_GROUP, record.group_id.hex())
        self._store.delete(_ADDED_BY, record.group_id.hex())
        if self._store.get(_NAME, record.name) == record.group_id:
            self._store.delete(_NAME, record.name)

    def _by_name(self, name: str) -> _Record:
        group_id = self._store.get(_NAME, name)
        record = None if group_id is None else self._load(group_id)
        if record is None:
            raise ClientError(f"there is no group named {name!r} on this device")
        return record

    def _free_name(self, wanted: str, group_id: bytes) -> str:
        """``wanted``, or ``wanted-2``, ``wanted-3``… if another group has it here."""
        name, n = wanted, 1
        while (holder := self._store.get(_NAME, name)) is not None and holder != group_id:
            n += 1
            name = f"{wanted[:60]}-{n}"
        return name

    @staticmethod
    def _info(record: _Record) -> GroupInfo:
        accounts = sorted({m.identity.address for m in record.state.members()})
        return GroupInfo(record.name, record.group_id, record.state.epoch, tuple(accounts))

    def all(self) -> list[GroupInfo]:
        """Every group this device is a member of, by name."""
        records = [_Record.from_json(obj) for obj in self._store.all_json(_GROUP)]
        return sorted((self._info(r) for r in records), key=lambda g: g.name)

    def info(self, name: str) -> GroupInfo:
        return self._info(self._by_name(name))

    def history(self, name: str, limit: int = 100) -> list[GroupMessage]:
        record = self._by_name(name)
        entries = self._store.history(history_peer(record.group_id), limit)
        return [_message(record.name, e) for e in entries]

    def history_page(
        self, name: str, limit: int, before: int | None = None
    ) -> tuple[list[GroupMessage], int | None]:
        """A page of ``limit`` messages older than the cursor ``before`` (the latest
        when None), oldest first, and the cursor of the page before it (None at the
        first message), as ``Client.history_page`` pages a direct conversation."""
        if limit < 1:
            raise ClientError(f"a history limit must be at least 1, not {limit}")
        if before is not None and before < 1:
            raise ClientError(f"a history cursor must be at least 1, not {before}")
        record = self._by_name(name)
        entries, cursor = self.chat.page(record.group_id, limit, before)
        return [_message(record.name, e) for e in entries], cursor

    def name_of(self, peer: str) -> str | None:
        """The group's name for a history key (``group:…``), if this device is in it."""
        group_id = group_id_of(peer)
        record = None if group_id is None else self._load(group_id)
        return None if record is None else record.name

    def unread(self, name: str) -> int:
        return self.chat.unread(self._by_name(name).group_id)

    def timer(self, name: str) -> int:
        """The group's disappearing timer in seconds (0: off)."""
        return self.chat.timer(self._by_name(name).group_id)

    def receipts(self, name: str, message_id: str) -> list[MemberReceipt]:
        """For a message this account sent: each other member account's receipt, as
        far as it got (WhatsApp's "read by" / "delivered to")."""
        record = self._by_name(name)
        heard = self.chat.receipts_of(message_id)
        return [MemberReceipt(m, heard.get(m, "sent")) for m in self._others(record)]

    def message_state(self, name: str, message_id: str) -> str:
        """``sent``, ``delivered`` (every other member account stored it) or ``read``."""
        record = self._by_name(name)
        return overall_state(self.chat.receipts_of(message_id), set(self._others(record)))

    def _others(self, record: _Record) -> list[str]:
        own = self.identity.address
        return sorted({m.identity.address for m in record.state.members()} - {own})

    def find_attachment(self, message_id: str) -> AttachmentPointer:
        """The attachment of a message in any group's history on this device."""
        for obj in self._store.all_json(_GROUP):
            entry = self.chat.find(_Record.from_json(obj).group_id, message_id)
            if entry is not None and "att" in entry:
                return AttachmentPointer.from_json(entry["att"])
        raise ClientError(f"no group message {message_id} with an attachment on this device")

    # -- creating, adding, removing, leaving ------------------------------------------

    async def create(self, name: str) -> GroupInfo:
        """A new group with this device as its only member, then this account's other
        devices, if it has any."""
        check_group_name(name)
        async with self._exclusive():
            if self._store.get(_NAME, name) is not None:
                raise ClientError(f"a group named {name!r} exists on this device")
            group_id = random_bytes(GROUP_ID_BYTES)
            state = GroupState.create(group_id, self.identity, self._signer)
            await self._transport.request("POST", "/v1/groups", {"group_id": sj.b64(group_id)})
            record = _Record(group_id, name, state, 0, _now_ms(), [], [])
            with self._store.transaction():
                self._save(record)
            own = await self._device_list(self.identity.address)
            if len(own.devices) > 1:
                try:
                    await self._add_accounts(group_id, [self.identity.address])
                except ClientError as exc:
                    # The group stands on this device; `add` with our own address
                    # brings the others in once they have KeyPackages.
                    log.warning("this account's other devices were not added: %s", exc)
            return self.info(name)

    async def add(self, name: str, *addresses: str) -> GroupInfo:
        """Add every device of each account in ``addresses`` in one commit, each with
        a KeyPackage claimed from the directory and checked against the account's
        verified device list. An account already in the group has its devices that
        are not yet members added (e.g. one it linked since)."""
        wanted = [str(Address.parse(a)) for a in addresses]
        if not wanted:
            raise ClientError("name at least one account to add")
        async with self._exclusive():
            record = self._by_name(name)
            await self._add_accounts(record.group_id, wanted)
            await self._announce_name(record.group_id)
            return self.info(name)

    async def _add_accounts(self, group_id: bytes, addresses: list[str]) -> None:
        record = self._load(group_id)
        if record is None:
            raise ClientError("this device is no longer in that group")
        present = {m.identity for m in record.state.members()}
        packages: list[bytes] = []
        added: list[dict[str, object]] = []
        for address in dict.fromkeys(addresses):
            devices = await self._device_list(address)
            absent = [
                e.device_id
                for e in devices.devices
                if DeviceIdentity(address, e.device_id) not in present
            ]
            if not absent:
                raise ClientError(f"{address} is already in {record.name!r}")
            for device_id, data in (await self._claim(address, devices, absent)).items():
                packages.append(data)
                added.append({"address": address, "device_id": device_id})
        for start in range(0, len(packages), MAX_ADDS_PER_COMMIT):
            end = start + MAX_ADDS_PER_COMMIT
            await self._commit(group_id, adds=packages[start:end], added=added[start:end])

    async def _claim(
        self, address: str, devices: DeviceList, device_ids: list[int]
    ) -> dict[int, bytes]:
        """A checked KeyPackage for each of ``device_ids`` of ``address``."""
        claim = await self._transport.request(
            "POST",
            "/v1/key-packages/claim",
            {"address": address, "cipher_suite": CIPHER_SUITE, "device_ids": device_ids},
        )
        claimed = sj.as_list(sj.field(claim, "key_packages", "claim"), "claim.key_packages")
        packages: dict[int, bytes] = {}
        for raw in claimed:
            item = sj.as_object(raw, "claim.key_packages[]")
            device_id = sj.integer(item, "device_id", "claim.key_packages[]")
            entry = devices.device(device_id)
            if entry is None or device_id not in device_ids:
                raise SecurityError(
                    f"the server offered a KeyPackage for a device of {address} not asked for"
                )
            data = sj.binary(item, "key_package", "claim.key_packages[]")
            try:
                check_key_package(
                    data, DeviceIdentity(address, device_id), entry.identity.sign_public
                )
            except EngineError as exc:
                raise SecurityError(f"a KeyPackage of {address} is invalid: {exc}") from exc
            packages[device_id] = data
        missing = sorted(set(device_ids) - packages.keys())
        if missing:
            raise ClientError(f"{address} has devices without KeyPackages on the server: {missing}")
        return packages

    async def remove(self, name: str, address: str) -> GroupInfo:
        """Remove every device of ``address`` from the group."""
        address = str(Address.parse(address))
        if address == self.identity.address:
            raise ClientError("to take yourself out of a group, leave it")
        async with self._exclusive():
            record = self._by_name(name)
            if address not in {m.identity.address for m in record.state.members()}:
                raise ClientError(f"{address} is not in {name!r}")
            await self._commit(
                record.group_id, remove=lambda member: member.identity.address == address
            )
            return self.info(name)

    async def leave(self, name: str) -> None:
        """Propose this device's removal (a member commits it) and forget the group.
        The server stops delivering the group to this device at once."""
        async with self._exclusive():
            for _ in range(REBASE_ATTEMPTS):
                record = self._by_name(name)
                message = record.state.propose_self_remove()
                try:
                    await self._post_message(record, "proposal", message, leave=True)
                    break
                except _Stale:
                    await self._rebase()
                except ServerError as exc:
                    if exc.problem_type != "unknown-group":
                        raise
                    break  # the server has this device out already (removed, not yet seen)
            else:
                raise ClientError(f"the group {name!r} kept changing; try again")
            with self._store.transaction():
                self._forget(record)

    async def update(self, name: str) -> GroupInfo:
        """Commit an Update for this device now (post-compromise security)."""
        async with self._exclusive():
            record = self._by_name(name)
            await self._self_update(record.group_id)
            return self.info(name)

    async def _self_update(self, group_id: bytes) -> None:
        # A commit without proposals still carries an UpdatePath (§12.4): fresh
        # leaf and path secrets for this device.
        await self._commit(group_id)

    async def _announce_name(self, group_id: bytes) -> None:
        record = self._load(group_id)
        if record is not None:
            name = GroupContent("name", new_message_id(), record.name, _now_ms())
            await self._send_payload(group_id, name.encode())

    # -- this account's own devices follow its device list ------------------------------

    async def follow_own_devices(self, devices: DeviceList) -> bool:
        """Make this account's devices in every group match ``devices``, the device list
        its account key signed (docs/groups.md, "Linked devices"): a listed device a
        group lacks is added with a claimed KeyPackage (and told the group's name), a
        member device of this account the list no longer holds is removed. True when
        every group matches; False leaves the rest for a later call (e.g. a new
        device that has not uploaded KeyPackages yet). Any device of the account may
        do this: the server takes one commit per epoch, and a device that finds the
        work done commits nothing."""
        address = self.identity.address
        listed = set(devices.device_ids())
        if self.identity.device_id not in listed:
            return False  # this device was removed: another device of the account acts
        complete = True
        async with self._exclusive():
            for obj in self._store.all_json(_GROUP):
                group_id = _Record.from_json(obj).group_id
                try:
                    await self._follow_in(group_id, address, listed, devices)
                except (ClientError, EngineError) as exc:
                    log.info("this account's devices do not match a group's yet: %s", exc)
                    complete = False
        return complete

    async def _follow_in(
        self, group_id: bytes, address: str, listed: set[int], devices: DeviceList
    ) -> None:
        record = self._load(group_id)
        if record is None:
            return
        members = record.state.members()
        own = {m.identity.device_id for m in members if m.identity.address == address}
        unlisted = own - listed
        if unlisted:
            await self._commit(
                group_id,
                remove=lambda m: m.identity.address == address and m.identity.device_id in unlisted,
            )
        absent = sorted(listed - own)
        if absent:
            packages = await self._claim(address, devices, absent)
            await self._commit(
                group_id,
                adds=list(packages.values()),
                added=[{"address": address, "device_id": d} for d in packages],
            )
            await self._announce_name(group_id)

    # -- commits and messages through the server, rebased on 409 -----------------------

    async def _commit(
        self,
        group_id: bytes,
        *,
        adds: list[bytes] | None = None,
        added: list[dict[str, object]] | None = None,
        remove: Callable[[Member], bool] = lambda _: False,
    ) -> None:
        """Build a commit on the current epoch (adding ``adds``, removing the members
        ``remove`` picks and any that asked to leave), post it, and merge it once
        the server accepted it; on ``stale-epoch`` process what is queued and build
        it again on the new epoch."""
        for _ in range(REBASE_ATTEMPTS):
            record = self._load(group_id)
            if record is None:
                raise ClientError("this device is no longer in that group")
            leaving = [
                m
                for m in record.state.members()
                if (remove(m) or _named(m.identity) in record.departed)
                and m.identity != self.identity
            ]
            pending = record.state.commit(adds=adds or [], removes=[m.leaf for m in leaving])
            body: dict[str, Any] = {
                "message_id": new_message_id(),
                "epoch": record.state.epoch,
                "commit": sj.b64(pending.commit),
                "added": added or [],
                "removed": [
                    {"address": m.identity.address, "device_id": m.identity.device_id}
                    for m in pending.removed
                ],
            }
            if pending.welcome is not None:
                body["welcome"] = sj.b64(pending.welcome)
            try:
                await self._post(f"/v1/groups/{path_id(group_id)}/commits", body)
            except _Stale:
                await self._rebase()
                continue
            record.state.merge(pending)
            record.sent_since_update = 0
            record.last_commit_ms = _now_ms()
            self._prune_departed(record)
            with self._store.transaction():
                self._save(record)
            return
        raise ClientError("the group kept changing while this device committed; try again")

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        """Post a commit or message. A lost answer is retried with the same body and
        message id, which the server recognises as what it already accepted;
        ``stale-epoch`` raises :class:`_Stale`."""
        backoff = Backoff()
        for attempt in range(POST_ATTEMPTS):
            try:
                await self._transport.request("POST", path, body)
                return
            except ServerError as exc:
                if exc.problem_type == "stale-epoch":
                    raise _Stale from exc
                if exc.status < 500 or attempt == POST_ATTEMPTS - 1:
                    raise
            except NetworkError:
                if attempt == POST_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(backoff.next_delay())

    @staticmethod
    def _prune_departed(record: _Record) -> None:
        present = {_named(m.identity) for m in record.state.members()}
        record.departed = [d for d in record.departed if d in present]

    def _departed_still_present(self, record: _Record) -> list[Member]:
        return [m for m in record.state.members() if _named(m.identity) in record.departed]

    async def _rebase(self) -> None:
        log.info("another member committed first; processing its commit")
        await self._catch_up()

    async def send(
        self,
        name: str,
        text: str = "",
        *,
        attachment: AttachmentPointer | None = None,
        reply_to: str | None = None,
    ) -> GroupMessage:
        """Encrypt ``text`` (with an uploaded ``attachment``, quoting the message
        ``reply_to``) for the group and hand it to the server; first an Update commit
        if the self-update policy asks for one. The group's disappearing timer
        travels with it."""
        async with self._exclusive():
            record = self._by_name(name)
            content = GroupContent(
                "text",
                new_message_id(),
                text,
                _now_ms(),
                attachment,
                None if reply_to is None else self._quote(record, reply_to),
                self.chat.timer(record.group_id),
            )
            # Encoded once, with the newest tree head if the group was not told it yet
            # (client.head_gossip); refused here if empty or oversized.
            told = history_peer(record.group_id)
            content, payload = self._gossip.encode(told, content)
            elapsed_ms = _now_ms() - record.last_commit_ms
            if (
                record.sent_since_update >= UPDATE_AFTER_MESSAGES
                or elapsed_ms >= UPDATE_AFTER_S * 1000
                or self._departed_still_present(record)
            ):
                await self._self_update(record.group_id)
            await self._send_payload(record.group_id, payload)
            self._gossip.sent(told, content.tree_head)
            with self._store.transaction():
                entry = self.chat.record(
                    record.group_id,
                    content,
                    self.identity.address,
                    self.identity.device_id,
                    own=True,
                    now_ms=_now_ms(),
                )
            return _message(record.name, entry)

    def _quote(self, record: _Record, message_id: str) -> Quote:
        entry = self.chat.find(record.group_id, message_id)
        if entry is None:
            raise ClientError(f"no message {message_id} in {record.name!r} to reply to")
        text, attachment = str(entry.get("text") or ""), entry.get("att")
        if not text and isinstance(attachment, dict):
            text = str(attachment.get("name", ""))
        return Quote(message_id, str(entry["sender"]), text[:MAX_QUOTE_CHARS])

    # -- timers, receipts, typing and deletion (client.group_chat) --------------------

    async def set_timer(self, name: str, seconds: int) -> None:
        """Set the group's disappearing timer here and on every member device (a
        ``timer`` payload); messages from now on disappear ``seconds`` after sending
        or receipt."""
        async with self._exclusive():
            record = self._by_name(name)
            with self._store.transaction():
                self.chat.set_timer(record.group_id, seconds)
            change = GroupTimerContent(new_message_id(), seconds, _now_ms())
            await self._send_payload(record.group_id, change.encode(), counts=False)

    async def send_typing(self, name: str, started: bool) -> None:
        """Tell the members this device's person started or stopped writing (when
        typing indicators are on and the group is not a message request)."""
        record = self._by_name(name)
        if self._settings.enabled(TYPING) and not self.is_request(record.group_id):
            typing = TypingContent(new_message_id(), started, _now_ms())
            async with self._exclusive():
                await self._send_payload(record.group_id, typing.encode(), counts=False)

    def mark_read(self, name: str) -> list[str]:
        """The group was shown: its unread messages are read; their ids, for
        :meth:`send_read_receipt`."""
        return self.chat.take_unread(self._by_name(name).group_id)

    async def send_read_receipt(self, name: str, message_ids: list[str]) -> None:
        """Tell the members their messages were read (when receipts are on and the
        group is not a message request)."""
        record = self._by_name(name)
        if message_ids and self._settings.enabled() and not self.is_request(record.group_id):
            await self._send_receipt(record.group_id, "read", message_ids[-MAX_RECEIPT_IDS:])

    async def _send_receipt(self, group_id: bytes, receipt_type: str, ids: list[str]) -> None:
        receipt = ReceiptContent(new_message_id(), receipt_type, tuple(ids), _now_ms())
        async with self._exclusive():
            await self._send_payload(group_id, receipt.encode(), counts=False)

    async def flush_receipts(self) -> None:
        """Delivery receipts for the group messages just stored, one per group; not
        while a group operation is under way (its rebase fetched them), which leaves
        them for the next fetch. A failure costs only the receipt."""
        if self._owner is not None and self._owner is asyncio.current_task():
            return
        pending, self._pending_receipts = self._pending_receipts, {}
        for group_id, ids in pending.items():
            try:
                await self._send_receipt(group_id, "delivered", ids[-MAX_RECEIPT_IDS:])
            except ClientError as exc:
                log.info("a group delivery receipt failed: %s", exc)

    async def delete_for_me(self, name: str, message_id: str) -> None:
        """Remove one message of the group from this device (and its downloaded file),
        and from this account's other devices (``client.own_sync``, by group id);
        the other members keep it."""
        record = self._by_name(name)
        sync = DeleteForMeSync(new_message_id(), history_peer(record.group_id), (message_id,))
        with self._store.transaction():
            removed = self.chat.remove(record.group_id, lambda e: e.get("id") == message_id)
            if removed:
                self._own_sync.queue(sync.message_id, sync.encode())
        if not removed:
            raise ClientError(f"no message {message_id} in {name!r} on this device")
        self.forget_attachments(removed)
        await self._own_sync.flush()

    async def delete_for_everyone(self, name: str, message_id: str) -> None:
        """Withdraw a message this account sent, from every member device, within
        ``deletion.DELETE_FOR_EVERYONE_S`` of sending it."""
        async with self._exclusive():
            record = self._by_name(name)
            entry = self.chat.find(record.group_id, message_id)
            if entry is None or entry.get("sender") != self.identity.address:
                raise ClientError("only a message you sent can be deleted for everyone")
            now = _now_ms()
            if not within_window(int(str(entry["ts"])), now):
                hours = DELETE_FOR_EVERYONE_S // 3600
                raise ClientError(f"a message can be deleted for everyone within {hours} hours")
            deletion = DeleteContent(new_message_id(), message_id, now)
            await self._send_payload(record.group_id, deletion.encode(), counts=False)
            with self._store.transaction():
                removed = self.chat.remove(
                    record.group_id,
                    lambda e: (
                        e.get("id") == message_id and e.get("sender") == self.identity.address
                    ),
                )
        self.forget_attachments(removed)

    async def _send_payload(self, group_id: bytes, payload: bytes, *, counts: bool = True) -> None:
        """Protect and post one payload. ``counts``: a message the self-update policy
        counts (a receipt or typing indicator is not one the person sent)."""
        # Franked (docs/safety.md): MLS carries Kf and the content, the commitment
        # goes beside the PrivateMessage for the server to tag per member device.
        franked = frank_group_content(payload)
        message_id = new_message_id()
        for _ in range(REBASE_ATTEMPTS):
            record = self._load(group_id)
            if record is None:
                raise ClientError("this device is no longer in that group")
            # Protecting advances this device's sending ratchet: saved before the
            # post, so a crash never reuses a key (RFC 9420 §9.1).
            message = record.state.protect(franked.application_data)
            record.sent_since_update += 1 if counts else 0
            with self._store.transaction():
                self._save(record)
            try:
                await self._post_message(
                    record,
                    "application",
                    message,
                    message_id=message_id,
                    commitment=franked.commitment,
                )
                return
            except _Stale:
                await self._rebase()
                message_id = new_message_id()
        raise ClientError("the group kept changing while this device sent; try again")

    async def _post_message(
        self,
        record: _Record,
        kind: str,
        message: bytes,
        *,
        leave: bool = False,
        message_id: str | None = None,
        commitment: bytes | None = None,
    ) -> None:
        body = {
            "message_id": message_id or new_message_id(),
            "epoch": record.state.epoch,
            "type": kind,
            "message": sj.b64(message),
            "leave": leave,
        }
        if commitment is not None:
            body["commitment"] = sj.b64(commitment)
        await self._post(f"/v1/groups/{path_id(record.group_id)}/messages", body)

    # -- receiving ------------------------------------------------------------------------

    async def receive(self, raw: object) -> tuple[GroupEvent | None, bool]:
        """Process one delivered group message. Returns the event to show, if any, and
        whether to acknowledge it: yes, unless the network failed while checking it."""
        try:
            envelope = parse_group_envelope(raw)
        except MalformedResponse as exc:
            log.warning("dropping a malformed group message: %s", exc)
            return None, True
        async with self._exclusive():
            if self._store.get(_SEEN, envelope.dedup_key) is not None:
                return None, True
            try:
                event = await self._apply(envelope)
            except (NetworkError, ServerError):
                return None, False
            except _NotMember:
                # Sent before this device left or was removed: nothing to show.
                log.info("dropping a message of a group this device is not in")
                with self._store.transaction():
                    self._store.put(_SEEN, envelope.dedup_key, b"")
                return None, True
            except (EngineError, ClientError) as exc:
                log.warning("dropping a group message from %s: %s", envelope.sender, exc)
                with self._store.transaction():
                    self._store.put(_SEEN, envelope.dedup_key, b"")
                return None, True
            if event is not None and event.kind == "departure":
                await self._maybe_commit_departure(event.group_id)
                return None, True
        if event is not None and event.kind == "changed":
            if self.on_update is not None:
                self.on_update(f"#{event.group}")
            return None, True
        if event is not None and event.kind == "typing":
            if self.on_typing is not None and event.actor is not None:
                self.on_typing(f"#{event.group}", event.actor, event.started)
            return None, True
        return event, True

    async def _vouched(self, record: _Record, member: DeviceIdentity, signature_key: bytes) -> None:
        """§5.3.1: the account's verified device list vouches for this member's
        signature key. Checked the first time this device sees the member act (a
        Welcome, commit, proposal or message from it), then remembered with the group:
        what a member shows is never accepted from a key its account did not sign."""
        vouched = f"{_named(member)}:{signature_key.hex()}"
        if vouched in record.vouched:
            return
        entry = (await self._device_list(member.address)).device(member.device_id)
        if entry is None or entry.identity.sign_public != signature_key:
            entry = (await self._device_list(member.address, refresh=True)).device(member.device_id)
        if entry is None or entry.identity.sign_public != signature_key:
            raise SecurityError(f"{_named(member)} signs with a key its device list does not hold")
        record.vouched.append(vouched)

    async def _apply(self, envelope: _GroupEnvelope) -> GroupEvent | None:
        """Check the sender against its account's device list, process the message on
        the group's state and save that state with the message's dedup mark in one
        transaction. The lock keeps this program's other tasks off the group."""
        if envelope.type == "mls-welcome":
            return await self._join(envelope)
        group_id = GroupState.message_group_id(envelope.body)
        record = self._load(group_id)
        if record is None:
            raise _NotMember
        sender = DeviceIdentity(envelope.sender, envelope.sender_device)
        keys = {m.identity: m.signature_key for m in record.state.members()}
        if sender in keys:
            await self._vouched(record, sender, keys[sender])
            # Loaded again after the check's network wait: from here to the save
            # nothing awaits, so another program on this profile cannot interleave.
            vouched = record.vouched
            record = self._load(group_id)
            if record is None:
                raise SecurityError("it is for a group this device just left")
            record.vouched = sorted(set(record.vouched) | set(vouched))
        outcome = record.state.process(envelope.body)
        if outcome.sender is not None and outcome.sender != sender:
            raise SecurityError("its MLS sender is not the device the server names")
        event: GroupEvent | None = None
        with self._store.transaction():
            self._store.put(_SEEN, envelope.dedup_key, b"")
            if isinstance(outcome, CommitApplied) and outcome.removed_self:
                self._forget(record)
                return GroupEvent("left", record.name, group_id, envelope.sender)
            if isinstance(outcome, ProposalReceived) and outcome.self_remove:
                record.departed.append(_named(sender))
                event = GroupEvent("departure", record.name, group_id, envelope.sender)
            if isinstance(outcome, Decrypted):
                event = self._content(record, envelope, outcome.plaintext)
            self._prune_departed(record)
            self._save(record)
        return event

    def _content(self, record: _Record, envelope: _GroupEnvelope, data: bytes) -> GroupEvent | None:
        # A message whose commitment does not open to what MLS decrypted is dropped.
        franked = open_group_franked(envelope.sender, envelope.franking, data)
        content = decode_group_payload(franked.content)
        if not isinstance(content, GroupContent):
            return self._control(record, envelope, content)
        if content.kind == "name":
            if record.name.startswith("group-"):
                self._store.delete(_NAME, record.name)
                record.name = self._free_name(content.value, record.group_id)
            added_by = self._store.get_json(_ADDED_BY, record.group_id.hex())
            if added_by is not None:
                # The inviter names the group right after its Welcome: now the
                # "you were added" event can say to what.
                self._store.delete(_ADDED_BY, record.group_id.hex())
                return GroupEvent("added", record.name, record.group_id, str(added_by["by"]))
            return GroupEvent("renamed", record.name, record.group_id, envelope.sender)
        own = envelope.sender == self.identity.address
        if not own and not self.is_blocked(envelope.sender):
            self._gossip.heard(envelope.sender, content.tree_head)
        entry = self.chat.record(
            record.group_id,
            content,
            envelope.sender,
            envelope.sender_device,
            own=own,
            now_ms=_now_ms(),
            server_ts_ms=envelope.franking.server_ts,
        )
        if (
            not own
            and self._settings.enabled()
            and not self.is_request(record.group_id)
            and not self.is_blocked(envelope.sender)
        ):
            self._pending_receipts.setdefault(record.group_id, []).append(content.message_id)
        keep_group_evidence(
            self._store,
            self.identity.device_id,
            content.message_id,
            group_id=record.group_id,
            message_id=envelope.message_id,
            sender=envelope.sender,
            sender_device=envelope.sender_device,
            server_ts=envelope.franking.server_ts,
            franked=franked,
        )
        message = _message(record.name, entry)
        return GroupEvent("message", record.name, record.group_id, envelope.sender, message)

    def _control(
        self,
        record: _Record,
        envelope: _GroupEnvelope,
        control: ReceiptContent | TypingContent | DeleteContent | GroupTimerContent,
    ) -> GroupEvent | None:
        """A member's receipt, typing indicator, deletion or timer change, within the
        receive's transaction; what the view should redraw, if anything."""
        sender = envelope.sender
        changed = GroupEvent("changed", record.name, record.group_id, sender)
        if isinstance(control, GroupTimerContent):
            if control.timer_s == self.chat.timer(record.group_id):
                return None
            self.chat.set_timer(record.group_id, control.timer_s)
            return changed
        if isinstance(control, DeleteContent):
            # Judged on the server's clock (client.deletion), not control.sent_at_ms.
            removed = self.chat.remove_for_everyone(
                record.group_id, control.target, sender, envelope.franking.server_ts
            )
            self.forget_attachments(removed)
            return changed if removed else None
        if sender == self.identity.address or self.is_blocked(sender):
            return None  # this account's other devices neither read for it nor type to it
        if isinstance(control, ReceiptContent):
            moved = self.chat.apply_receipt(record.group_id, sender, control)
            return changed if moved else None
        fresh = _now_ms() - control.sent_at_ms <= TYPING_FRESH_MS
        if not (fresh and self._settings.enabled(TYPING)):
            return None
        return GroupEvent("typing", record.name, record.group_id, sender, started=control.started)

    async def _join(self, envelope: _GroupEnvelope) -> GroupEvent:
        state, used = GroupState.join(envelope.body, self.key_packages.bundles())
        group_id = state.group_id
        if self._load(group_id) is not None:
            raise SecurityError("it welcomes this device to a group it is already in")
        inviter = DeviceIdentity(envelope.sender, envelope.sender_device)
        keys = {m.identity: m.signature_key for m in state.members()}
        if inviter not in keys:
            raise SecurityError("its sender is not a member of the group it welcomes to")
        name = self._free_name(f"group-{group_id.hex()[:8]}", group_id)
        record = _Record(group_id, name, state, 0, _now_ms(), [], [])
        await self._vouched(record, inviter, keys[inviter])
        with self._store.transaction():
            self._store.put(_SEEN, envelope.dedup_key, b"")
            self.key_packages.consume(used)
            self._save(record)
            self._store.put_json(_ADDED_BY, group_id.hex(), {"by": envelope.sender})
            if self.on_join is not None:
                self.on_join(group_id, envelope.sender)
        return GroupEvent("joined", name, group_id, envelope.sender)

    async def _maybe_commit_departure(self, group_id: bytes) -> None:
        """A member asked to leave: the remaining member with the lowest leaf index
        commits its removal now; the others remove it in their next commit."""
        record = self._load(group_id)
        if record is None:
            return
        departed = self._departed_still_present(record)
        staying = [m for m in record.state.members() if m not in departed]
        if not departed or not staying or staying[0].identity != self.identity:
            return
        try:
            await self._commit(group_id)
        except ClientError as exc:
            log.info("committing a departure failed (%s); the next commit will", exc)


class _Stale(Exception):
    """The server answered ``stale-epoch``."""


class _NotMember(Exception):
    """A delivered message is for a group this device has no state of."""
