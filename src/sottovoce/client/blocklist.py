"""Blocked accounts, kept in the encrypted local store (docs/safety.md).

A block names an account, never a device: a blocked person's new or linked
devices are blocked with it. Their envelopes are acknowledged and dropped before
decryption, so their messages are never shown and their sessions never touched.
A plain block stays on this device; "block and report" also tells the server,
which then drops the blocked account's unsealed messages to us and counts the
block as an abuse signal. Each record is ``{"address", "reported", "since"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sottovoce.client.errors import ProfileError
from sottovoce.client.messages import datetime_from_ms
from sottovoce.client.store import Store

BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class BlockedAccount:
    address: str
    reported: bool
    since: datetime


class BlockList:
    def __init__(self, store: Store) -> None:
        self._store = store

    def is_blocked(self, address: str) -> bool:
        return self._store.get(BLOCKED, address) is not None

    def get(self, address: str) -> BlockedAccount | None:
        record = self._store.get_json(BLOCKED, address)
        return None if record is None else _blocked(record)

    def add(self, address: str, *, reported: bool, now_ms: int) -> None:
        """Block ``address`` (inside the caller's transaction); a repeated block keeps
        the earlier date and becomes reported if either was."""
        previous = self.get(address)
        since = now_ms if previous is None else int(previous.since.timestamp() * 1000)
        self._store.put_json(
            BLOCKED,
            address,
            {
                "address": address,
                "reported": reported or (previous is not None and previous.reported),
                "since": since,
            },
        )

    def remove(self, address: str) -> BlockedAccount | None:
        """Unblock (inside the caller's transaction); the block it was, if any."""
        previous = self.get(address)
        if previous is not None:
            self._store.delete(BLOCKED, address)
        return previous

    def all(self) -> list[BlockedAccount]:
        return sorted((_blocked(r) for r in self._store.all_json(BLOCKED)), key=lambda b: b.address)


def _blocked(record: dict[str, object]) -> BlockedAccount:
    address, reported, since = record.get("address"), record.get("reported"), record.get("since")
    if not isinstance(address, str) or not isinstance(reported, bool) or not isinstance(since, int):
        raise ProfileError("a block record of the local store is damaged")
    return BlockedAccount(address, reported, datetime_from_ms(since))
