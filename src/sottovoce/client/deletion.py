"""Deleting messages: for me (this device's store), or for everyone (the sender asks
every recipient device to remove it, within a time window).

"Delete for everyone" is only honoured for a message the requesting peer itself
sent, and only while the deletion is sent within ``DELETE_FOR_EVERYONE_S`` of the
message (Signal allows 24 hours; WhatsApp about two days): after that a message
stays with whoever received it. Neither can reach a copy someone already saved
elsewhere, and the app says so.

A recipient's device judges that window on the server's clock, not the sender's:
the ``server_ts`` the server stamped on the message's envelope when it stored it
(kept with the history entry as ``sts``) and the one on the deletion's envelope.
The dates inside the payloads are the sender's to write, so a modified client
could otherwise withdraw a week-old message by dating its deletion an hour after
it. The sender's own device checks its own clock first, only to say no early.
"""

from __future__ import annotations

from collections.abc import Mapping

from sottovoce.client.history import History
from sottovoce.client.store import Store

DELETE_FOR_EVERYONE_S = 24 * 3_600


def remove(
    store: Store, history: History, peer: str, message_id: str, direction: str
) -> dict[str, object] | None:
    """Remove one message of ``peer``'s history (inside the caller's transaction);
    the removed entry, if it was there."""
    removed, _ = store.delete_history_where(
        peer, lambda e: e.get("id") == message_id and e.get("direction") == direction
    )
    if removed:
        history.refresh_conversation(peer)
    return removed[0] if removed else None


def within_window(message_ts_ms: int, deletion_ts_ms: int) -> bool:
    return 0 <= deletion_ts_ms - message_ts_ms <= DELETE_FOR_EVERYONE_S * 1000


def withdrawable(entry: Mapping[str, object], deletion_server_ms: int) -> bool:
    """Whether a deletion the server stored at ``deletion_server_ms`` (its envelope's
    ``server_ts``) still reaches the history ``entry``: both times are the server's.
    An entry stored before devices kept ``sts`` falls back on the sender's date of
    the message, still against the server's date of the deletion."""
    arrived = entry.get("sts", entry.get("ts"))
    if not isinstance(arrived, int) or isinstance(arrived, bool) or deletion_server_ms <= 0:
        return False
    return within_window(arrived, deletion_server_ms)
