"""Gossip of signed tree heads between contacts, inside end-to-end encrypted messages.

A log that shows one person a forked history from the very start (a split
view) is consistent in itself, so following it never fails; only comparing
heads with someone shown the real log exposes it. CONIKS (Melara et al., USENIX
Security 2015) has clients cross-check the provider's signed tree roots for
exactly this, and CT's gossip draft (draft-ietf-trans-gossip, "STH
pollination") passes signed tree heads between parties that already talk.
Here the heads ride in the content of one-to-one and group text messages, which
the server cannot read, tell apart, strip or change (docs/transparency.md,
"Gossip between contacts").

What rides along: the newest head this device verified, in a text message's
``"sth"`` field (standard base64 of the 125-byte head, 177 bytes of JSON), only
when that head is newer than the newest one the recipient is known to hold (a
contact: one sent to them or received from them; a group: one sent to it).
Quiet conversations carry nothing; a busy log costs one head per contact or
group per change of this device's view.

What a received head gets: a signature check by the pinned log key, then
``LogMonitor.check_gossiped`` (catch up if it is newer, then RFC 9162 §2.1.4
consistency with this device's head). A fork is a ``log-fork`` alert about the
contact holding both heads. A well-formed head the pinned key did not sign is a
head of another log (:class:`ForeignLogHead`), a ``foreign-log`` alert the
first time a contact sends one. A malformed head is :class:`MalformedGossip`.
Either way the message carrying it is shown, since only its gossip is bad.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from typing import TYPE_CHECKING, TypeVar

from sottovoce.client import server_json as sj
from sottovoce.client.alerts import SecurityAlert
from sottovoce.client.errors import ClientError, InvalidMessage, NetworkError
from sottovoce.client.store import Store
from sottovoce.client.transparency import LogMonitor
from sottovoce.protocol.errors import ProtocolError, VerificationError
from sottovoce.protocol.public.tree_head import SIGNED_TREE_HEAD_LEN

if TYPE_CHECKING:  # client.content imports this module for the field's wire form
    from sottovoce.client.content import TextContent
    from sottovoce.client.group_content import GroupContent

    Gossiping = TypeVar("Gossiping", TextContent, GroupContent)

log = logging.getLogger(__name__)

GOSSIP = "kt-gossip"
# The record of heads heard and not yet checked (no address is a bare word).
_HEARD = "heard"
# The record of a contact whose heads are of another log, alerted about once
# ("foreign:" + address: no address contains a colon).
_FOREIGN = "foreign:"
# The content field that carries a head (client.content).
HEAD_FIELD = "sth"
# A head is exactly SIGNED_TREE_HEAD_LEN bytes, so its base64 has exactly this length;
# anything longer is refused before it is decoded.
HEAD_FIELD_CHARS = 4 * ((SIGNED_TREE_HEAD_LEN + 2) // 3)
# Heads received and not yet checked, kept across restarts; beyond this many (a
# flood from contacts while the server is unreachable) the oldest are dropped.
MAX_HEARD = 64


class MalformedGossip(InvalidMessage):
    """A gossiped tree head that does not parse as a signed tree head at all."""


class ForeignLogHead(ClientError):
    """A well-formed signed tree head that the pinned log key did not sign: the head of
    another log (its sender's device pinned another log key), or one its sender made
    up. Not evidence against the operator, who may never have signed it; the contact's
    safety number tells whether either of the two was shown a different log."""


def encode_head_field(head: bytes) -> str:
    return base64.b64encode(head).decode()


def decode_head_field(value: object) -> bytes:
    """The head bytes of a content's ``"sth"`` value; :class:`MalformedGossip` names what
    is wrong (never quoting the value)."""
    if not isinstance(value, str):
        raise MalformedGossip("the gossiped tree head is not a string")
    if len(value) != HEAD_FIELD_CHARS:
        raise MalformedGossip(
            f"the gossiped tree head is {len(value)} characters, a head is {HEAD_FIELD_CHARS}"
        )
    try:
        head = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedGossip("the gossiped tree head is not standard base64") from exc
    if len(head) != SIGNED_TREE_HEAD_LEN:
        raise MalformedGossip(f"the gossiped tree head is not {SIGNED_TREE_HEAD_LEN} bytes")
    return head


class HeadGossip:
    """Which head to send each contact, and the check of those they send.

    State (one local-store record per contact, kind ``kt-gossip``): ``{"epoch"}``, the
    newest epoch the contact is known to hold; and the heads ``heard``
    and not yet checked, ``{"heard": [[address, b64 head], ...]}`` under ``"heard"``.
    """

    def __init__(self, store: Store, monitor: LogMonitor) -> None:
        self._store = store
        self._monitor = monitor
        # Read on every send, so kept in memory: each contact's known epoch, and the
        # epoch of the device's newest head (verified once, when it changes).
        self._known: dict[str, int] = {}
        self._epoch_of: tuple[bytes, int] | None = None
        # Whether heads may wait in the store (read once after start, for those an
        # earlier run kept): check_heard runs after every message received.
        self._waiting = True

    def _known_epoch(self, peer: str) -> int:
        if peer not in self._known:
            record = self._store.get_json(GOSSIP, peer) or {}
            self._known[peer] = int(str(record.get("epoch", 0)))
        return self._known[peer]

    def _knows(self, peer: str, epoch: int) -> None:
        if epoch > self._known_epoch(peer):
            with self._store.transaction():
                self._store.put_json(GOSSIP, peer, {"epoch": epoch})
            self._known[peer] = epoch

    def _epoch(self, head: bytes) -> int:
        if self._epoch_of is None or self._epoch_of[0] != head:
            self._epoch_of = (head, self._monitor.parse_head(head).epoch)
        return self._epoch_of[1]

    def outgoing(self, peer: str) -> bytes | None:
        """The head to put in the next message to ``peer``, if it tells them anything new."""
        head = self._monitor.latest_head_bytes()
        if head is None or self._epoch(head) <= self._known_epoch(peer):
            return None
        return head

    def encode(self, peer: str, content: Gossiping) -> tuple[Gossiping, bytes]:
        """``content`` with the head :meth:`outgoing` names, and its payload, encoded
        once; without the head if it would make the message too large to send (gossip
        never costs a message). ``peer`` is a contact's address, or a group's history
        key (``group_chat.history_peer``). Raises :class:`InvalidMessage` as
        ``content.encode`` does."""
        head = self.outgoing(peer)
        if head is not None and content.tree_head is None:
            gossiping = dataclasses.replace(content, tree_head=head)
            try:
                return gossiping, gossiping.encode()
            except InvalidMessage:
                pass
        return content, content.encode()

    def sent(self, peer: str, head: bytes | None) -> None:
        """``head`` (from :meth:`outgoing`) reached the server in a message to ``peer``."""
        if head is not None:
            self._knows(peer, self._epoch(head))

    def heard(self, peer: str, head: bytes | None) -> None:
        """Keep a head received from ``peer`` for :meth:`check_heard` (no network here:
        the caller is storing the message that carried it)."""
        if head is None:
            return
        self._keep([[peer, sj.b64(head)]])

    def _keep(self, items: list[object]) -> None:
        with self._store.transaction():
            record = self._store.get_json(GOSSIP, _HEARD) or {}
            heard = sj.as_list(record.get("heard", []), "kt-gossip")
            self._store.put_json(GOSSIP, _HEARD, {"heard": [*heard, *items][-MAX_HEARD:]})
        self._waiting = True

    async def check_heard(self) -> None:
        """Check every head heard since the last call. Never raises: a fork is recorded
        as an alert (``security_alerts``), a malformed head is logged and dropped, and
        heads the server was unreachable for wait for the next call."""
        if not self._waiting:
            return
        record = self._store.get_json(GOSSIP, _HEARD) or {}
        heard = sj.as_list(record.get("heard", []), "kt-gossip")
        with self._store.transaction():
            self._store.delete(GOSSIP, _HEARD)
        self._waiting = False
        for i, item in enumerate(heard):
            try:
                peer, head = (str(v) for v in sj.as_list(item, "kt-gossip"))
                await self.check(peer, sj.unb64(head, "kt-gossip"))
            except SecurityAlert as exc:
                log.warning("%s", exc)
            except NetworkError as exc:
                log.info("gossiped tree heads wait for the server: %s", exc)
                self._keep(heard[i:])
                return
            except (ClientError, ValueError) as exc:
                log.warning("a gossiped tree head was not checked: %s", exc)

    async def check(self, peer: str, head: bytes) -> None:
        """Check ``head``, gossiped by ``peer``: :class:`MalformedGossip` if it is not a
        signed tree head, :class:`ForeignLogHead` (the first time from ``peer``, as a
        ``foreign-log`` :class:`SecurityAlert`) if the pinned log key did not sign it,
        :class:`SecurityAlert` (``log-fork``) if it forks from this device's view."""
        try:
            parsed = self._monitor.parse_head(head)
        except VerificationError as exc:
            raise self._foreign(peer) from exc
        except ProtocolError as exc:
            raise MalformedGossip(f"the tree head {peer} gossiped fails: {exc}") from exc
        await self._monitor.check_gossiped(peer, parsed)
        self._knows(peer, parsed.epoch)
        if self._store.get_json(GOSSIP, _FOREIGN + peer) is not None:
            with self._store.transaction():  # a later head of another log alerts again
                self._store.delete(GOSSIP, _FOREIGN + peer)

    def _foreign(self, peer: str) -> ClientError:
        """A head of another log from ``peer``: an alert the first time (until a head of
        this device's log comes from them), then only a warning, so that a contact
        cannot fill the alerts by sending many."""
        detail = (
            f"{peer}'s device gossiped a tree head that the transparency log key this "
            "device pinned did not sign: one of you may be shown another log. Compare "
            f"safety numbers with {peer}."
        )
        if self._store.get_json(GOSSIP, _FOREIGN + peer) is not None:
            return ForeignLogHead(detail)
        with self._store.transaction():
            self._store.put_json(GOSSIP, _FOREIGN + peer, {})
            return self._monitor.foreign_log(peer, detail)
