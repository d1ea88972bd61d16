"""Direct access to the live server's SQLite file, to play a compromised or buggy relay.

The tables are the ones ``sottovoce.storage.schema`` defines; writing them here is
what an attacker holding the operator's database could do.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, timeout=10)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def device_pk(db_path: Path, address: str, device_id: int = 1) -> int:
    handle, app = address.split("@")
    with _connect(db_path) as conn:
        (pk,) = conn.execute(
            "SELECT d.id FROM devices d JOIN accounts a ON a.id = d.account_id "
            "WHERE a.app = ? AND a.handle = ? AND d.device_id = ?",
            (app, handle, device_id),
        ).fetchone()
    return int(pk)


def queued_bodies(db_path: Path, recipient: str) -> list[tuple[str, str, bytes]]:
    """(message_id, type, body) of every envelope queued for ``recipient``'s device 1."""
    pk = device_pk(db_path, recipient)
    with _connect(db_path) as conn:
        rows = conn.execute(
            "SELECT message_id, type, body FROM queued_messages "
            "WHERE recipient_device_pk = ? ORDER BY id",
            (pk,),
        ).fetchall()
    return [(str(m), str(t), bytes(b)) for m, t, b in rows]


def inject_envelope(
    db_path: Path,
    recipient: str,
    *,
    sender: str,
    message_id: str,
    kind: str,
    body: bytes,
) -> None:
    """Queue an envelope the sender never sent, as a malicious relay could."""
    recipient_pk = device_pk(db_path, recipient)
    with _connect(db_path) as conn:
        conn.execute(
            "INSERT INTO queued_messages (recipient_device_pk, sender_device_pk, sender, "
            "sender_device, message_id, type, body, server_ts) VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
            (recipient_pk, 0, sender, message_id, kind, body, int(time.time() * 1000)),
        )


def replace_account_keys(
    db_path: Path, address: str, account_key: bytes, device_list: bytes, version: int
) -> None:
    """Serve another account key and device list for ``address``."""
    handle, app = address.split("@")
    with _connect(db_path) as conn:
        conn.execute(
            "UPDATE accounts SET account_key = ?, device_list = ?, device_list_version = ? "
            "WHERE app = ? AND handle = ?",
            (account_key, device_list, version, app, handle),
        )


def replace_device_identity(db_path: Path, address: str, identity: bytes) -> None:
    """Serve another identity key for ``address`` device 1 in its prekey bundles."""
    pk = device_pk(db_path, address)
    with _connect(db_path) as conn:
        conn.execute("UPDATE devices SET identity = ? WHERE id = ?", (identity, pk))


def add_device(db_path: Path, address: str, device_id: int, identity: bytes) -> None:
    """A device row for ``address``, as registering a new device would create."""
    handle, app = address.split("@")
    day = int(time.time() // 86_400)
    with _connect(db_path) as conn:
        (account_id,) = conn.execute(
            "SELECT id FROM accounts WHERE app = ? AND handle = ?", (app, handle)
        ).fetchone()
        conn.execute(
            "INSERT INTO devices (account_id, device_id, identity, created_day, last_seen_day) "
            "VALUES (?, ?, ?, ?, ?)",
            (account_id, device_id, identity, day, day),
        )


def remove_device(db_path: Path, address: str, device_id: int) -> None:
    pk = device_pk(db_path, address, device_id)
    with _connect(db_path) as conn:
        conn.execute("DELETE FROM devices WHERE id = ?", (pk,))


def queued_for_device(db_path: Path, address: str, device_id: int) -> int:
    pk = device_pk(db_path, address, device_id)
    with _connect(db_path) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM queued_messages WHERE recipient_device_pk = ?", (pk,)
        ).fetchone()
    return int(count)


def account_keys(db_path: Path, address: str) -> tuple[bytes, bytes, int]:
    """(account_key, signed device list, version) as the server holds them."""
    handle, app = address.split("@")
    with _connect(db_path) as conn:
        key, device_list, version = conn.execute(
            "SELECT account_key, device_list, device_list_version FROM accounts "
            "WHERE app = ? AND handle = ?",
            (app, handle),
        ).fetchone()
    return bytes(key), bytes(device_list), int(version)


def delete_account(db_path: Path, address: str) -> None:
    """Forget an account and its devices, as a relay that lost its data would."""
    handle, app = address.split("@")
    with _connect(db_path) as conn:
        conn.execute("DELETE FROM accounts WHERE app = ? AND handle = ?", (app, handle))
