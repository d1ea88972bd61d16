"""Delivery and read receipts, end-to-end encrypted like messages.

When receipts are on (``Client.set_receipts``; the SDK default is off, the app
turns them on as Signal does, and either side may turn them off), a device that
stored a message from an accepted contact sends back a ``delivered`` receipt,
and opening the conversation sends a ``read`` one (``content.ReceiptContent``).
Message requests get none: nothing goes back to a stranger (``client.requests``).
A received receipt moves our sent messages' state forward — sent, delivered,
read, never back — kept per message id, and only for ids we sent to that peer.

Typing indicators (``content.TypingContent``) have their own setting (``typing``)
and the same rules: encrypted, never to a message request, and shown only while
fresh (``TYPING_FRESH_MS``), since one may wait in a queue while the person is
offline.
"""

from __future__ import annotations

from sottovoce.client.store import Store

STATE = "receipt_state"
SETTINGS = "settings"
_RECEIPTS = "receipts"
TYPING = "typing"
_ORDER = {"sent": 0, "delivered": 1, "read": 2}
# A typing indicator older than this is history, not news: not shown.
TYPING_FRESH_MS = 15_000


class Receipts:
    def __init__(self, store: Store) -> None:
        self._store = store

    def enabled(self, setting: str = _RECEIPTS) -> bool:
        """Receipts (``receipts``) or typing indicators (``typing``): off unless set."""
        record = self._store.get_json(SETTINGS, setting)
        return bool(record and record.get("on") is True)

    def set_enabled(self, on: bool, setting: str = _RECEIPTS) -> None:
        with self._store.transaction():
            self._store.put_json(SETTINGS, setting, {"on": on})

    def sent(self, peer: str, message_id: str) -> None:
        """Within the send's transaction: this id went to ``peer``."""
        self._store.put_json(STATE, message_id, {"peer": peer, "state": "sent"})

    def state(self, message_id: str) -> str | None:
        record = self._store.get_json(STATE, message_id)
        value = record.get("state") if record else None
        return value if isinstance(value, str) else None

    def apply(self, peer: str, receipt_type: str, message_ids: tuple[str, ...]) -> list[str]:
        """Within the caller's transaction; the ids whose state moved forward."""
        moved = []
        for message_id in message_ids:
            record = self._store.get_json(STATE, message_id)
            if record is None or record.get("peer") != peer:
                continue  # not a message we sent to this peer
            current = _ORDER.get(str(record.get("state")), 0)
            if _ORDER[receipt_type] > current:
                self._store.put_json(STATE, message_id, {**record, "state": receipt_type})
                moved.append(message_id)
        return moved


def moves_forward(current: str | None, new: str) -> bool:
    """Whether a receipt of type ``new`` advances a message now at ``current``."""
    return _ORDER.get(new, 0) > _ORDER.get(current or "sent", 0)
