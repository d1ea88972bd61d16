"""Disappearing messages: a per-conversation timer, and the sweep that enforces it.

As in Signal, the timer is a property of the conversation that travels inside
every encrypted message (``content``): sending uses this device's setting, and a
received message whose timer differs sets it here too, so both people's devices
converge on the last choice either of them made. A message expires its timer
after it was sent (on the sender's devices) or received (on the recipient's),
and :meth:`Disappearing.sweep` then removes it, and its downloaded attachment,
from the local store. Each peer's earliest expiry is kept in an ``expiry``
record, so a sweep opens only conversations that have something due.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.client.errors import ClientError
from sottovoce.client.store import Store

TIMER = "timer"
EXPIRY = "expiry"
# The choices the app offers (seconds → label); 0 is off. Only these travel, so a
# peer cannot set a timer of a century or of a millisecond.
TIMERS: dict[int, str] = {
    0: "off",
    300: "5 minutes",
    3_600: "1 hour",
    86_400: "1 day",
    604_800: "1 week",
}


def check_timer(seconds: int) -> bool:
    return seconds in TIMERS


@dataclass(frozen=True, slots=True)
class Expired:
    peer: str
    message_id: str
    blob_id: str | None


class Disappearing:
    def __init__(self, store: Store) -> None:
        self._store = store

    def timer(self, peer: str) -> int:
        record = self._store.get_json(TIMER, peer)
        value = record.get("seconds") if record else 0
        return value if isinstance(value, int) and check_timer(value) else 0

    def set_timer(self, peer: str, seconds: int) -> None:
        """Within the caller's transaction."""
        if not check_timer(seconds):
            choices = ", ".join(f"{s} ({label})" for s, label in TIMERS.items())
            raise ClientError(f"a disappearing timer is one of {choices} seconds")
        self._store.put_json(TIMER, peer, {"seconds": seconds})

    def due_at(self, peer: str, expires_at_ms: int) -> None:
        """Remember that ``peer``'s history has a message expiring then."""
        record = self._store.get_json(EXPIRY, peer)
        current = record.get("next") if record else None
        if not isinstance(current, int) or expires_at_ms < current:
            self._store.put_json(EXPIRY, peer, {"peer": peer, "next": expires_at_ms})

    def sweep(self, now_ms: int) -> list[Expired]:
        """Delete every message whose time has come; what went."""
        gone: list[Expired] = []
        for record in self._store.all_json(EXPIRY):
            peer, due = record.get("peer"), record.get("next")
            if not isinstance(peer, str) or not isinstance(due, int) or due > now_ms:
                continue
            with self._store.transaction():
                removed, remaining = self._store.delete_history_where(
                    peer, lambda e: _due(e, now_ms)
                )
                upcoming = [t for t in (_expires(e) for e in remaining) if t is not None]
                if upcoming:
                    self._store.put_json(EXPIRY, peer, {"peer": peer, "next": min(upcoming)})
                else:
                    self._store.delete(EXPIRY, peer)
            for entry in removed:
                attachment = entry.get("att")
                blob = attachment.get("blob") if isinstance(attachment, dict) else None
                gone.append(
                    Expired(peer, str(entry.get("id")), blob if isinstance(blob, str) else None)
                )
        return gone


def _expires(entry: dict[str, object]) -> int | None:
    value = entry.get("exp")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _due(entry: dict[str, object], now_ms: int) -> bool:
    expires = _expires(entry)
    return expires is not None and expires <= now_ms
