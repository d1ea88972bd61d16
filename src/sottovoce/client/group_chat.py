"""A group's conversation on this device: its history, timer, receipts and unread count.

:mod:`sottovoce.client.groups` carries group payloads over MLS; this module keeps
what they mean in the encrypted local store, with the one-to-one modules' rules:

- History entries are rows of the store's history under :func:`history_peer`,
  with the sender's account and device, an attachment's pointer (``att``), a
  reply's quote (``quote``) and an expiry (``exp``) like a direct message's, and
  for a message the server delivered, when it stored it (``sts``, its envelope's
  ``server_ts``): a deletion for everyone is judged on that clock
  (``client.deletion``), never on the dates the sender wrote.
- The disappearing timer is the group's (``client.disappearing``, keyed by
  :func:`history_peer`): a member's ``timer`` payload sets it on every member
  device, and every message carries it, so the devices converge on the last
  choice. A message expires its timer after it was sent (on the sender's
  devices) or received; ``Client.expire_messages`` sweeps group history with the
  rest, attachments included.
- Receipts are per member (``client.receipts`` rules, per account): every
  message this account sent has a record of how far each other member account
  got (delivered, read, never back), the way WhatsApp shows "read by". The
  message as a whole is delivered (or read) once every other member account is.
- Unread: the ids of received messages not yet shown, so opening the group
  sends one ``read`` receipt for them and the chat list shows a count.
"""

from __future__ import annotations

from collections.abc import Callable

from sottovoce.client.content import MAX_RECEIPT_IDS, ReceiptContent
from sottovoce.client.deletion import withdrawable
from sottovoce.client.disappearing import Disappearing
from sottovoce.client.group_content import GroupContent
from sottovoce.client.receipts import moves_forward
from sottovoce.client.store import Store

RECEIPTS = "group_receipts"
UNREAD = "group_unread"
# Rows opened per step when looking for one message's attachment in a long history.
_SCAN_PAGE = 500

Entry = dict[str, object]


def history_peer(group_id: bytes) -> str:
    """The local history key of a group (never an address: it has no ``@``)."""
    return f"group:{group_id.hex()}"


def group_id_of(peer: str) -> bytes | None:
    """The group a history key names, if it names one."""
    if not peer.startswith("group:"):
        return None
    try:
        return bytes.fromhex(peer[len("group:") :])
    except ValueError:
        return None


class GroupChat:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._disappearing = Disappearing(store)

    # -- the disappearing timer -------------------------------------------------------

    def timer(self, group_id: bytes) -> int:
        return self._disappearing.timer(history_peer(group_id))

    def set_timer(self, group_id: bytes, seconds: int) -> None:
        """Within the caller's transaction; refuses a value the app does not offer."""
        self._disappearing.set_timer(history_peer(group_id), seconds)

    # -- history ----------------------------------------------------------------------

    def record(
        self,
        group_id: bytes,
        content: GroupContent,
        sender: str,
        device: int,
        *,
        own: bool,
        now_ms: int,
        server_ts_ms: int | None = None,
    ) -> Entry:
        """Append a text to the group's history, within the caller's transaction.
        ``own``: this account sent it (here or on another of its devices);
        ``server_ts_ms``: when the server stored it, if it came through the server."""
        peer = history_peer(group_id)
        if content.timer_s != self.timer(group_id):
            self.set_timer(group_id, content.timer_s)
        entry: Entry = {
            "id": content.message_id,
            "sender": sender,
            "device": device,
            "text": content.value,
            "ts": content.sent_at_ms,
        }
        if server_ts_ms is not None:
            entry["sts"] = server_ts_ms
        if content.attachment is not None:
            entry["att"] = content.attachment.to_json()
        if content.quote is not None:
            entry["quote"] = content.quote.to_json()
        if content.timer_s:
            start = content.sent_at_ms if own else now_ms
            entry["exp"] = start + content.timer_s * 1000
            self._disappearing.due_at(peer, start + content.timer_s * 1000)
        self._store.append_history(peer, entry)
        if own:
            self._store.put_json(RECEIPTS, content.message_id, {"group": group_id.hex(), "by": {}})
            self._store.delete(UNREAD, group_id.hex())  # sending is reading
        else:
            unread = self._unread(group_id)
            ids = [*unread[1], content.message_id][-MAX_RECEIPT_IDS:]
            self._store.put_json(UNREAD, group_id.hex(), {"count": unread[0] + 1, "ids": ids})
        return entry

    def page(
        self, group_id: bytes, limit: int, before: int | None = None
    ) -> tuple[list[Entry], int | None]:
        """Up to ``limit`` entries older than the cursor ``before`` (the newest when
        None), oldest first, and the cursor of the page before them (None: no more)."""
        rows = self._store.history_page(history_peer(group_id), limit + 1, before)
        more = len(rows) > limit
        rows = rows[1:] if more else rows
        return [e for _, e in rows], (rows[0][0] if more else None)

    def find(self, group_id: bytes, message_id: str) -> Entry | None:
        """One message of the group's history, newest pages first."""
        before: int | None = None
        while True:
            rows = self._store.history_page(history_peer(group_id), _SCAN_PAGE, before)
            for _, entry in reversed(rows):
                if entry.get("id") == message_id:
                    return entry
            if len(rows) < _SCAN_PAGE:
                return None
            before = rows[0][0]

    def remove(self, group_id: bytes, doomed: Callable[[Entry], bool]) -> list[Entry]:
        """Remove the entries for which ``doomed`` holds (caller's transaction)."""
        removed, _ = self._store.delete_history_where(history_peer(group_id), doomed)
        self.forget_receipts([str(entry.get("id")) for entry in removed])
        return removed

    def forget_receipts(self, message_ids: list[str]) -> None:
        """Messages that went (expired or deleted) leave no receipts behind (caller's
        transaction); ids of direct messages have none."""
        for message_id in message_ids:
            self._store.delete(RECEIPTS, message_id)

    def remove_for_everyone(
        self, group_id: bytes, message_id: str, sender: str, deletion_server_ms: int
    ) -> list[Entry]:
        """A member withdraws its own message, within ``deletion.DELETE_FOR_EVERYONE_S``
        on the server's clock (``deletion_server_ms``: the deletion's ``server_ts``);
        a request naming anyone else's message removes nothing."""
        return self.remove(
            group_id,
            lambda e: (
                e.get("id") == message_id
                and e.get("sender") == sender
                and withdrawable(e, deletion_server_ms)
            ),
        )

    # -- unread and receipts ------------------------------------------------------------

    def _unread(self, group_id: bytes) -> tuple[int, list[str]]:
        record = self._store.get_json(UNREAD, group_id.hex())
        count = record.get("count") if record else 0
        ids = record.get("ids") if record else []
        return (
            count if isinstance(count, int) else 0,
            [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else [],
        )

    def unread(self, group_id: bytes) -> int:
        return self._unread(group_id)[0]

    def take_unread(self, group_id: bytes) -> list[str]:
        """The received messages not yet shown (the latest ones), now marked read."""
        count, ids = self._unread(group_id)
        if count:
            with self._store.transaction():
                self._store.delete(UNREAD, group_id.hex())
        return ids[-count:] if count else []

    def apply_receipt(self, group_id: bytes, member: str, receipt: ReceiptContent) -> list[str]:
        """Within the caller's transaction: ``member`` (an account) got or read our
        messages; the ids whose record moved forward. Ids this account did not send
        to this group are ignored."""
        moved = []
        for message_id in receipt.message_ids:
            record = self._store.get_json(RECEIPTS, message_id)
            by = record.get("by") if record else None
            if record is None or record.get("group") != group_id.hex() or not isinstance(by, dict):
                continue
            current = by.get(member)
            if moves_forward(current if isinstance(current, str) else None, receipt.receipt_type):
                by[member] = receipt.receipt_type
                self._store.put_json(RECEIPTS, message_id, {**record, "by": by})
                moved.append(message_id)
        return moved

    def receipts_of(self, message_id: str) -> dict[str, str]:
        """How far each member account got with a message this account sent."""
        record = self._store.get_json(RECEIPTS, message_id)
        by = record.get("by") if record else None
        if not isinstance(by, dict):
            return {}
        return {str(k): str(v) for k, v in by.items() if v in ("delivered", "read")}


def overall_state(receipts: dict[str, str], others: set[str]) -> str:
    """A sent message's state for the group: read once every other member account read
    it, delivered once every one stored it, else sent."""
    if others and all(receipts.get(m) == "read" for m in others):
        return "read"
    if others and all(receipts.get(m) in ("delivered", "read") for m in others):
        return "delivered"
    return "sent"
