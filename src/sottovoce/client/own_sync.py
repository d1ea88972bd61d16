"""Keeping this account's devices in step: the outbox of sync messages, and applying
the ones another device sent (``sync_content``).

A "delete for me" or a timer change happens on this device at once, offline too;
the sync message telling the other devices is queued in the same store
transaction and sent when it can be (right away, else on the next fetch or
connection), like Signal's job queue. Each keeps its message id across retries,
so the server stores it at most once and the other devices apply it once.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sottovoce.client import deletion
from sottovoce.client.content import TextContent
from sottovoce.client.disappearing import Disappearing
from sottovoce.client.errors import ClientError, NetworkError, ServerError
from sottovoce.client.group_chat import GroupChat, group_id_of
from sottovoce.client.history import History
from sottovoce.client.store import Store
from sottovoce.client.sync_content import DeleteForMeSync, OwnSync, SentTranscript

log = logging.getLogger("sottovoce.client")

OUTBOX = "own_sync_outbox"
# Sync messages waiting while this device is offline; beyond this the oldest are
# dropped (the other devices then miss that deletion or timer change, nothing else).
MAX_OUTBOX = 1_000

SendToOwnDevices = Callable[[str, bytes], Awaitable[None]]
RecordSent = Callable[[str, TextContent], None]


@dataclass(frozen=True, slots=True)
class Applied:
    """What a sync message changed here: the conversation, and the removed entries
    (whose downloaded attachments go too)."""

    peer: str
    removed: list[dict[str, object]] = field(default_factory=list)


class Outbox:
    def __init__(self, store: Store, send: SendToOwnDevices) -> None:
        self._store = store
        self._send = send
        self._flushing = False

    def queue(self, message_id: str, payload: bytes) -> None:
        """Within the caller's transaction, beside the change it tells of."""
        waiting = self._waiting()
        for stale in waiting[: max(0, len(waiting) - MAX_OUTBOX + 1)]:
            self._store.delete(OUTBOX, str(stale["id"]))
        self._store.put_json(
            OUTBOX,
            message_id,
            {"id": message_id, "at": time.time_ns(), "payload": base64.b64encode(payload).decode()},
        )

    def _waiting(self) -> list[dict[str, object]]:
        return sorted(self._store.all_json(OUTBOX), key=lambda r: int(str(r.get("at", 0))))

    async def flush(self) -> None:
        """Send what waits, oldest first. A network failure or a 5xx leaves the rest for
        the next flush; anything else drops that one message (it can never go)."""
        if self._flushing:
            return  # the running flush re-reads the outbox and sends this one too
        self._flushing = True
        try:
            while waiting := self._waiting():
                record = waiting[0]
                message_id = str(record["id"])
                try:
                    await self._send(message_id, base64.b64decode(str(record["payload"])))
                except (NetworkError, ServerError) as exc:
                    if isinstance(exc, NetworkError) or exc.status >= 500:
                        log.info("telling this account's devices waits: %s", exc)
                        return
                    log.warning("dropping a sync message for this account's devices: %s", exc)
                except ClientError as exc:
                    log.warning("dropping a sync message for this account's devices: %s", exc)
                with self._store.transaction():
                    self._store.delete(OUTBOX, message_id)
        finally:
            self._flushing = False


def apply_sync(
    sync: OwnSync,
    store: Store,
    history: History,
    disappearing: Disappearing,
    record_sent: RecordSent,
) -> Applied:
    """Apply another device's sync message, within the caller's transaction."""
    if isinstance(sync, SentTranscript):
        if isinstance(sync.content, TextContent):
            record_sent(sync.destination, sync.content)
            return Applied(sync.destination)
        removed = deletion.remove(store, history, sync.destination, sync.content.target, "out")
        return Applied(sync.destination, [removed] if removed else [])
    if isinstance(sync, DeleteForMeSync):
        group_id = group_id_of(sync.peer)
        if group_id is not None:  # a group's: its entries have a sender, no direction
            doomed = set(sync.message_ids)
            return Applied(
                sync.peer, GroupChat(store).remove(group_id, lambda e: e.get("id") in doomed)
            )
        found = (
            deletion.remove(store, history, sync.peer, message_id, direction)
            for message_id in sync.message_ids
            for direction in ("in", "out")
        )
        return Applied(sync.peer, [entry for entry in found if entry is not None])
    disappearing.set_timer(sync.peer, sync.seconds)
    return Applied(sync.peer)
