"""Message requests: a first message from someone you never talked to waits apart.

As in Signal and WhatsApp, a conversation that a stranger starts is a *request*
until the person accepts it (or replies, which is accepting). Its messages are
decrypted and kept in history like any others, but the conversation is listed
under requests, not conversations, and nothing goes back to the sender: no
receipts, no profile or access key, no sign it was read. Accepting moves it into
the conversations; deleting removes its messages; blocking also drops whatever
the sender writes from then on (``blocklist``).

A peer is a request while it has a ``request`` record; a peer with a
conversation and no such record is accepted. A request record is
``{"peer", "since"}`` (milliseconds of the first message's arrival).

Being added to a group by a stranger is a request too (a ``group-request``
record ``{"group", "by", "since"}`` per group, written in the join's own transaction):
the group's messages are decrypted and kept, since MLS needs every one, but not
handed out until the person accepts; declining leaves the group. An invite from
an accepted contact, or from another device of one's own account, is no request.
Like WhatsApp's "who can add me to groups", a person may instead let anyone add
them (``set_group_invites_from_anyone``); the default is Signal's: requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sottovoce.client.errors import ClientError, ProfileError
from sottovoce.client.group_chat import history_peer
from sottovoce.client.groups import Groups
from sottovoce.client.history import CONVERSATION, History
from sottovoce.client.messages import datetime_from_ms
from sottovoce.client.receipts import SETTINGS
from sottovoce.client.store import Store

REQUEST = "request"
GROUP_REQUEST = "group-request"
# A group request counts its held messages up to this many (a list shows "1000+").
HELD_COUNTED = 1000
_ANYONE_ADDS = "group-invites-from-anyone"


@dataclass(frozen=True, slots=True)
class MessageRequest:
    peer: str
    last_text: str
    last_timestamp: datetime
    unread: int
    since: datetime


@dataclass(frozen=True, slots=True)
class GroupRequest:
    group: str
    group_id: bytes
    invited_by: str
    held: int
    """How many of the group's messages wait unseen."""
    since: datetime


class MessageRequests:
    def __init__(self, store: Store, history: History) -> None:
        self._store = store
        self._history = history

    def is_request(self, peer: str) -> bool:
        return self._store.get(REQUEST, peer) is not None

    def is_accepted(self, peer: str) -> bool:
        return not self.is_request(peer) and self._store.get(CONVERSATION, peer) is not None

    def incoming(self, peer: str, now_ms: int) -> bool:
        """Called (inside the receiving transaction, before the message is recorded)
        for each message from ``peer``: whether it belongs to a request, opening one
        if this is the first message of a conversation we never had."""
        if self.is_request(peer):
            return True
        if self._store.get(CONVERSATION, peer) is not None:
            return False
        self._store.put_json(REQUEST, peer, {"peer": peer, "since": now_ms})
        return True

    def accept(self, peer: str) -> bool:
        """Make ``peer``'s request a conversation (inside the caller's transaction);
        False if there was none."""
        if not self.is_request(peer):
            return False
        self._store.delete(REQUEST, peer)
        return True

    def delete(self, peer: str) -> None:
        """Drop the request and every message it holds (inside a transaction)."""
        if not self.is_request(peer):
            raise ClientError(f"there is no message request from {peer}")
        self._store.delete(REQUEST, peer)
        self._store.delete_history(peer)
        self._store.delete(CONVERSATION, peer)

    def pending(self) -> list[MessageRequest]:
        """Every open request, the most recent first."""
        conversations = {c.peer: c for c in self._history.conversations()}
        requests = []
        for record in self._store.all_json(REQUEST):
            peer, since = record.get("peer"), record.get("since")
            if not isinstance(peer, str) or not isinstance(since, int):
                raise ProfileError("a message request record of the local store is damaged")
            conversation = conversations.get(peer)
            if conversation is None:
                continue
            requests.append(
                MessageRequest(
                    peer,
                    conversation.last_text,
                    conversation.last_timestamp,
                    conversation.unread,
                    datetime_from_ms(since),
                )
            )
        return sorted(requests, key=lambda r: r.last_timestamp, reverse=True)

    # -- group invites from strangers ---------------------------------------------

    def group_invite(self, group_id: bytes, inviter: str, own_address: str, now_ms: int) -> bool:
        """Called inside the transaction that joins ``group_id``: whether the invite
        is a request, recording it if so."""
        if inviter == own_address or self.is_accepted(inviter) or self.anyone_may_add():
            return False
        record = {"group": group_id.hex(), "by": inviter, "since": now_ms}
        self._store.put_json(GROUP_REQUEST, group_id.hex(), record)
        return True

    def anyone_may_add(self) -> bool:
        record = self._store.get_json(SETTINGS, _ANYONE_ADDS)
        return record is not None and record.get("on") is True

    def set_anyone_may_add(self, on: bool) -> None:
        with self._store.transaction():
            self._store.put_json(SETTINGS, _ANYONE_ADDS, {"on": on})

    def is_group_request(self, group_id: bytes) -> bool:
        return self._store.get(GROUP_REQUEST, group_id.hex()) is not None

    def invited_by(self, group_id: bytes) -> tuple[str, int]:
        """Who added this device to the group, and when (ms); ClientError if no one
        awaits an answer."""
        record = self._store.get_json(GROUP_REQUEST, group_id.hex())
        if record is None:
            raise ClientError("there is no request to join that group")
        return _invite(record)[1:]

    def pending_groups(self, groups: Groups) -> list[GroupRequest]:
        """Every open group request of a group this device is still in, newest first."""
        by_id = {g.group_id: g for g in groups.all()}
        requests = []
        for record in self._store.all_json(GROUP_REQUEST):
            group_id, by, since = _invite(record)
            group = by_id.get(group_id)
            if group is None:  # removed from it since
                continue
            held = len(self._store.history(history_peer(group_id), HELD_COUNTED))
            requests.append(GroupRequest(group.name, group_id, by, held, datetime_from_ms(since)))
        return sorted(requests, key=lambda r: r.since, reverse=True)

    def settle_group(self, group_id: bytes) -> None:
        """Accepted, or declined and left: the group is no request any more."""
        self._store.delete(GROUP_REQUEST, group_id.hex())


def _invite(record: dict[str, object]) -> tuple[bytes, str, int]:
    group, by, since = record.get("group"), record.get("by"), record.get("since")
    try:
        if isinstance(group, str) and isinstance(by, str) and isinstance(since, int):
            return bytes.fromhex(group), by, since
    except ValueError:
        pass
    raise ProfileError("a group request record of the local store is damaged")
