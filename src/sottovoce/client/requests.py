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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sottovoce.client.errors import ClientError, ProfileError
from sottovoce.client.history import CONVERSATION, History
from sottovoce.client.messages import datetime_from_ms
from sottovoce.client.store import Store

REQUEST = "request"


@dataclass(frozen=True, slots=True)
class MessageRequest:
    peer: str
    last_text: str
    last_timestamp: datetime
    unread: int
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
