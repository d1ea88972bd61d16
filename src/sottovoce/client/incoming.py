"""What one delivered envelope becomes: a stored message, a control applied, or nothing.

Every envelope a fetch or the live connection hands over comes here. It is
validated, opened (sealed sender), decrypted and everything it changes is
written in one store transaction, which commits before the caller acknowledges
it to the server (the Client's module docstring). Dropped, and acknowledged,
with a warning that never includes content: malformed, forged or undecryptable
envelopes. Held, not acknowledged: messages from a contact whose identity key
changed, until the person trusts it. Network and server errors propagate and
leave the envelope queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sottovoce.client import deletion
from sottovoce.client.attachment_files import forget_attachments
from sottovoce.client.blocklist import BlockList
from sottovoce.client.content import (
    DeleteContent,
    ReceiptContent,
    TextContent,
    TypingContent,
    decode_payload,
)
from sottovoce.client.disappearing import Disappearing
from sottovoce.client.envelope import InboundEnvelope, parse_envelope, queue_id_of
from sottovoce.client.errors import (
    IdentityChanged,
    InvalidMessage,
    MalformedResponse,
    SecurityError,
    UnknownAccount,
)
from sottovoce.client.franking import FrankingEvidence, open_franked
from sottovoce.client.groups import GROUP_TYPES, Groups
from sottovoce.client.head_gossip import HeadGossip
from sottovoce.client.history import History
from sottovoce.client.messages import ReceivedMessage, datetime_from_ms
from sottovoce.client.operator_notice import is_operator_notice, receive_operator_notice
from sottovoce.client.own_sync import apply_sync
from sottovoce.client.prekey_supply import PreKeySupply
from sottovoce.client.receipts import TYPING, TYPING_FRESH_MS, Receipts
from sottovoce.client.requests import MessageRequests
from sottovoce.client.sealed import SealedSender, check_sender_identity
from sottovoce.client.session_cipher import Decrypted, claimed_identity, decrypt
from sottovoce.client.session_record import SessionRecord
from sottovoce.client.store import Store
from sottovoce.client.sync_content import DeviceReadySync, decode_sync
from sottovoce.client.text_record import record_text
from sottovoce.client.transport import Transport
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList

log = logging.getLogger("sottovoce.client")

# The dedup marks of envelopes already stored (``InboundEnvelope.dedup_key``).
SEEN = "seen"

# The verified device list of an account (``Client._contact``).
DeviceListOf = Callable[..., Awaitable[DeviceList]]


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivered envelope: the new message, if any, and the queue
    id to acknowledge (``None`` keeps it queued on the server)."""

    message: ReceivedMessage | None
    ack: int | None


class Incoming:
    """Receives envelopes for one device (``Client`` owns it and acknowledges them).

    ``on_update(peer)`` hears of each peer whose conversation changed without a new
    message (a receipt moved a sent message's state, or a message was deleted for
    everyone); ``on_typing(peer, started)`` of typing indicators (``client.receipts``).
    """

    def __init__(
        self,
        store: Store,
        identity: IdentityKeyPair,
        transport: Transport,
        device_list: DeviceListOf,
        prekeys: PreKeySupply,
        sealed: SealedSender,
        evidence: FrankingEvidence,
        blocklist: BlockList,
        requests: MessageRequests,
        history: History,
        disappearing: Disappearing,
        receipts: Receipts,
        gossip: HeadGossip,
        groups: Groups,
    ) -> None:
        self._store = store
        self._identity = identity
        self._transport = transport
        self._device_list = device_list
        self._prekeys = prekeys
        self._sealed = sealed
        self._evidence = evidence
        self._blocklist = blocklist
        self._requests = requests
        self._history = history
        self._disappearing = disappearing
        self._receipts = receipts
        self._gossip = gossip
        self._groups = groups
        self.on_update: Callable[[str], None] | None = None
        self.on_typing: Callable[[str, bool], None] | None = None
        # Delivery receipts owed for what was stored, per sender (sent after the ack).
        self._pending_receipts: dict[str, list[str]] = {}
        # A newly linked device of this account said it is ready (DeviceReadySync):
        # it is added to the groups once the envelope that said so is committed.
        self._device_ready = False

    @property
    def _profile_dir(self) -> Path:
        return self._store.directory

    def take_pending_receipts(self) -> dict[str, list[str]]:
        """The delivery receipts owed since the last call, per peer."""
        pending, self._pending_receipts = self._pending_receipts, {}
        return pending

    def take_device_ready(self) -> bool:
        """Whether a new device of this account said it is ready since the last call."""
        ready, self._device_ready = self._device_ready, False
        return ready

    async def receive(self, raw: object) -> Outcome:
        """Validate, decrypt and store one delivered envelope (see the module docstring)."""
        queue_id = queue_id_of(raw)
        if queue_id is None:
            log.warning("ignoring an envelope without a usable queue id")
            return Outcome(None, None)
        if isinstance(raw, dict) and raw.get("type") in GROUP_TYPES:
            return await self._receive_group(raw, queue_id)
        if is_operator_notice(raw):  # signed by the operator, not encrypted (docs/legal.md)
            try:
                notice = await receive_operator_notice(
                    self._store,
                    self._transport,
                    self._transport.address,
                    raw,  # type: ignore[arg-type]
                )
            except (SecurityError, MalformedResponse) as exc:
                log.warning("dropping an operator notice: %s", exc)
                return Outcome(None, queue_id)
            return Outcome(notice, queue_id)
        try:
            envelope = parse_envelope(raw)
        except MalformedResponse as exc:
            log.warning("dropping a malformed envelope: %s", exc)
            return Outcome(None, queue_id)
        if envelope.sealed:
            try:
                envelope = await self._sealed.open(envelope)
            except (SecurityError, MalformedResponse) as exc:
                log.warning("dropping a sealed message: %s", exc)
                return Outcome(None, queue_id)
        if self._store.get(SEEN, envelope.dedup_key) is not None:
            return Outcome(None, queue_id)
        if self._blocklist.is_blocked(envelope.sender):
            # Dropped unread: a blocked account's sessions are never touched.
            log.info("dropping a message from a blocked account")
            return Outcome(None, queue_id)
        try:
            message = await self._decrypt_and_store(envelope)
        except IdentityChanged:
            log.warning(
                "holding a message from %s until its new identity is trusted", envelope.sender
            )
            return Outcome(None, None)
        except (SecurityError, UnknownAccount, InvalidMessage, ProtocolError) as exc:
            log.warning("dropping a message from %s: %s", envelope.sender, exc)
            return Outcome(None, queue_id)
        return Outcome(message, queue_id)

    async def _receive_group(self, raw: object, queue_id: int) -> Outcome:
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
        return Outcome(message, queue_id if acknowledge else None)

    async def _sender_device(self, envelope: InboundEnvelope) -> DeviceEntry:
        """The sender device's entry in its verified device list. The cached list is
        refreshed once if it lacks the device or names another identity than the
        message (or our session) claims, e.g. after the sender added a device."""
        record = SessionRecord.load(self._store, envelope.sender, envelope.sender_device)
        claimed = claimed_identity(record, envelope.kind, envelope.body)
        entry = (await self._device_list(envelope.sender)).device(envelope.sender_device)
        if entry is None or (claimed is not None and entry.identity != claimed):
            refreshed = await self._device_list(envelope.sender, refresh=True)
            entry = refreshed.device(envelope.sender_device)
        if entry is None:
            raise SecurityError(f"{envelope.sender} lists no device {envelope.sender_device}")
        return entry

    def _settle(self, envelope: InboundEnvelope, record: SessionRecord, opened: Decrypted) -> None:
        """Inside the caller's transaction: the session moved on, the prekeys a new
        session used are spent, and the envelope is marked seen."""
        record.save(self._store)
        if opened.inbound is not None:
            self._prekeys.keys.consume(
                opened.inbound.one_time_prekey_id,
                opened.inbound.kem_prekey_id,
                opened.inbound.kem_prekey_last_resort,
            )
        self._store.put(SEEN, envelope.dedup_key, b"")

    async def _decrypt_and_store(self, envelope: InboundEnvelope) -> ReceivedMessage | None:
        entry = await self._sender_device(envelope)
        # No await from here to the commit (see the Client's docstring). The dedup mark
        # is checked again: another fetch or listen may have stored it meanwhile.
        if self._store.get(SEEN, envelope.dedup_key) is not None:
            return None
        record = SessionRecord.load(self._store, envelope.sender, envelope.sender_device)
        opened = decrypt(record, self._identity, self._prekeys.keys, envelope.kind, envelope.body)
        if opened.session.remote_identity != entry.identity:
            raise SecurityError(f"{record.name} used an identity its device list does not hold")
        if envelope.sender == self._transport.address:
            self._store_transcript(envelope, record, opened)
            return None
        check_sender_identity(envelope, opened.session.remote_identity)
        franked = open_franked(envelope, opened.plaintext, envelope.sender_certificate or b"")
        content = decode_payload(franked.content)
        # A sealed message's outer id is a fresh delivery id (client.outgoing).
        if not envelope.sealed and content.message_id != envelope.message_id:
            raise SecurityError(f"{record.name} sent a message whose inner and outer ids differ")
        if isinstance(content, ReceiptContent | DeleteContent | TypingContent):
            self._store_control(envelope, record, opened, content, franked.profile_key)
            return None
        with self._store.transaction():
            self._sealed.learn(envelope.sender, franked.profile_key)
            self._evidence.keep(content.message_id, envelope, franked, envelope.sender_certificate)
            self._settle(envelope, record, opened)
            # A stranger's first message opens a message request (client.requests).
            self._requests.incoming(envelope.sender, _now_ms())
            record_text(
                self._history,
                self._disappearing,
                envelope.sender,
                content,
                "in",
                _now_ms(),
                envelope.server_ts,
            )
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
            self._settle(envelope, record, opened)
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
        forget_attachments(self._profile_dir, removed)
        if changed and self.on_update is not None:
            self.on_update(envelope.sender)
        if (
            isinstance(control, TypingContent)
            and control.sent_at_ms >= _now_ms() - TYPING_FRESH_MS
            and self.on_typing is not None
            and self._receipts.enabled(TYPING)
        ):
            self.on_typing(envelope.sender, control.started)

    def _store_transcript(
        self, envelope: InboundEnvelope, record: SessionRecord, opened: Decrypted
    ) -> None:
        """What another device of this account sent or did: sent history, or a
        deletion or timer change to apply here too (``client.own_sync``)."""
        sync = decode_sync(opened.plaintext)
        if sync.message_id != envelope.message_id:
            raise SecurityError(f"{record.name} sent a message whose inner and outer ids differ")
        with self._store.transaction():
            self._settle(envelope, record, opened)
            if isinstance(sync, DeviceReadySync):
                self._device_ready = True  # acted on by Client._add_ready_device
                return
            applied = apply_sync(sync, self._store, self._history, self._disappearing, self._sent)
        forget_attachments(self._profile_dir, applied.removed)
        group = self._groups.name_of(applied.peer)  # a group's delete for me
        if group is not None:
            if self._groups.on_update is not None:
                self._groups.on_update(f"#{group}")
        elif self.on_update is not None:
            self.on_update(applied.peer)

    def _sent(self, peer: str, content: TextContent) -> None:
        """A message another device of this account sent, into this device's history."""
        record_text(self._history, self._disappearing, peer, content, "out", content.sent_at_ms)
