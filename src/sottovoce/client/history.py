"""Message history and the conversation list, kept in the encrypted local store.

Entries are appended in the order this device saw them (its own sends, and
receipts in commit order); timestamps are the sender's ``sent_at``. Each peer
also has a ``conversation`` record with the last message and an unread count,
so the conversation list is read without scanning all history.
"""

from __future__ import annotations

from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.content import Quote
from sottovoce.client.errors import ProfileError
from sottovoce.client.messages import Conversation, Direction, HistoryEntry, datetime_from_ms
from sottovoce.client.store import Store

CONVERSATION = "conversation"


def _text(entry: dict[str, object], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str):
        raise ProfileError(f"a history record of the local store lacks {name!r}")
    return value


def _integer(entry: dict[str, object], name: str) -> int:
    value = entry.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProfileError(f"a history record of the local store lacks {name!r}")
    return value


def _direction(entry: dict[str, object]) -> Direction:
    value = entry.get("direction")
    if value == "in":
        return "in"
    if value == "out":
        return "out"
    raise ProfileError("a history record of the local store has no valid direction")


def _entry(peer: str, e: dict[str, object]) -> HistoryEntry:
    return HistoryEntry(
        _text(e, "id"),
        peer,
        _direction(e),
        _text(e, "text"),
        datetime_from_ms(_integer(e, "ts")),
        _integer(e, "fwd") if "fwd" in e else 0,
        AttachmentPointer.from_json(e["att"]) if "att" in e else None,
        datetime_from_ms(_integer(e, "exp")) if "exp" in e else None,
        Quote.from_json(e["quote"]) if "quote" in e else None,
    )


class History:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(
        self,
        peer: str,
        message_id: str,
        direction: Direction,
        text: str,
        ts_ms: int,
        forwarded: int = 0,
        attachment: AttachmentPointer | None = None,
        expires_at_ms: int | None = None,
        quote: Quote | None = None,
        server_ts_ms: int | None = None,
    ) -> None:
        """Append one message; runs inside the caller's transaction, so a received
        message is in history exactly when its dedup mark and session state are.
        ``server_ts_ms``: when the server stored a received message (its envelope's
        ``server_ts``, kept as ``sts``), the clock delete for everyone is judged on."""
        entry: dict[str, object] = {"id": message_id, "direction": direction, "text": text}
        entry["ts"] = ts_ms
        if server_ts_ms is not None:
            entry["sts"] = server_ts_ms
        if forwarded:
            entry["fwd"] = forwarded
        if attachment is not None:
            entry["att"] = attachment.to_json()
        if expires_at_ms is not None:
            entry["exp"] = expires_at_ms
        if quote is not None:
            entry["quote"] = quote.to_json()
        self._store.append_history(peer, entry)
        previous = self._store.get_json(CONVERSATION, peer)
        unread = 0 if previous is None else _integer(previous, "unread")
        self._store.put_json(
            CONVERSATION,
            peer,
            {
                "peer": peer,
                "text": text or (attachment.name if attachment else ""),
                "ts": ts_ms,
                # Sending is reading: a reply means the person has seen the thread.
                "unread": 0 if direction == "out" else unread + 1,
            },
        )

    def entries(self, peer: str, limit: int) -> list[HistoryEntry]:
        return [_entry(peer, e) for e in self._store.history(peer, limit)]

    def page(
        self, peer: str, limit: int, before: int | None = None
    ) -> tuple[list[HistoryEntry], int | None]:
        """Up to ``limit`` messages older than the cursor ``before`` (the newest, when
        None), oldest first, and the cursor for the page before them (None: no more)."""
        rows = self._store.history_page(peer, limit + 1, before)
        more = len(rows) > limit
        rows = rows[1:] if more else rows
        return [_entry(peer, e) for _, e in rows], (rows[0][0] if more else None)

    def refresh_conversation(self, peer: str) -> None:
        """After messages were removed: the list shows the last one still there."""
        conversation = self._store.get_json(CONVERSATION, peer)
        if conversation is None:
            return
        last = self.entries(peer, 1)
        text = ""
        if last:
            attachment = last[0].attachment
            text = last[0].text or (attachment.name if attachment else "")
        self._store.put_json(CONVERSATION, peer, {**conversation, "text": text})

    def mark_read(self, peer: str) -> None:
        conversation = self._store.get_json(CONVERSATION, peer)
        if conversation is not None and conversation.get("unread"):
            with self._store.transaction():
                self._store.put_json(CONVERSATION, peer, {**conversation, "unread": 0})

    def conversations(self) -> list[Conversation]:
        """Every conversation, the most recent first."""
        items = [
            Conversation(
                _text(c, "peer"),
                _text(c, "text"),
                datetime_from_ms(_integer(c, "ts")),
                _integer(c, "unread"),
            )
            for c in self._store.all_json(CONVERSATION)
        ]
        return sorted(items, key=lambda c: c.last_timestamp, reverse=True)
