"""The device's local store: one SQLite file whose every value is sealed by a Vault.

Layout of a profile directory::

    profile.json   how the store key is obtained (Argon2id salt and costs, or key file)
    store.key      32 random bytes, mode 0600 — only when no passphrase is used
    store.db       SQLite, mode 0600:
                     records(kind, lookup, value)  one value per (kind, name)
                     history(seq, peer, value)     messages in arrival order

``kind`` is a fixed word of this SDK (``session``, ``contact``, ...); ``lookup``
and ``peer`` are blind indexes; ``value`` is sealed with the row's table and key
as associated data (history rows include their ``seq``, so their order is bound).

Changes that must land together (new session state, consumed prekeys, the message
and its dedup mark) go through one :meth:`Store.transaction`, so a crash leaves
either all of them or none; with ``synchronous=FULL`` a finished commit survives
power loss.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sottovoce.client.errors import ProfileError
from sottovoce.client.store_key import (
    KEY_FILE,
    PROFILE_FILE,
    new_store_key,
    read_profile,
    unlock,
    write_profile,
)
from sottovoce.client.vault import Vault, row_context
from sottovoce.crypto.password import Argon2Parameters

DB_FILE = "store.db"
SCHEMA_VERSION = 1
# How long to wait for another process holding this profile's write lock (the
# CLI and a long-running listener may share one profile) before giving up.
BUSY_TIMEOUT_S = 10.0
_CHECK_KIND = "check"
_CHECK_VALUE = b"Sottovoce store v1"

_SCHEMA = """
CREATE TABLE records (
    kind TEXT NOT NULL, lookup BLOB NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (kind, lookup)
) WITHOUT ROWID;
CREATE TABLE history (seq INTEGER PRIMARY KEY, peer BLOB NOT NULL, value BLOB NOT NULL);
CREATE INDEX history_peer ON history (peer, seq);
"""


class Store:
    """Sealed records and history over one SQLite connection (one per process)."""

    def __init__(self, directory: Path, conn: sqlite3.Connection, vault: Vault) -> None:
        self.directory = directory
        self._conn = conn
        self._vault = vault
        self._depth = 0
        self._closed = False

    # -- opening --------------------------------------------------------------

    @staticmethod
    def ensure_absent(directory: Path) -> None:
        if (directory.expanduser() / PROFILE_FILE).exists():
            raise ProfileError(f"a profile already exists in {directory}")

    @classmethod
    def create(
        cls,
        directory: Path,
        passphrase: str | None = None,
        argon2: Argon2Parameters | None = None,
    ) -> Store:
        """A new, empty profile. ``argon2`` overrides the RFC 9106 default costs
        (tests lower them); it is recorded in profile.json for :meth:`open`."""
        cls.ensure_absent(directory)
        directory = directory.expanduser()
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ProfileError(f"cannot create the profile directory {directory}") from exc
        profile, key = new_store_key(directory, passphrase, argon2)
        store = cls._connect(directory, key, create=True)
        with store.transaction():
            store.put(_CHECK_KIND, _CHECK_KIND, _CHECK_VALUE)
        # profile.json last: until it exists, the directory is not a profile.
        write_profile(directory, profile)
        return store

    @classmethod
    def open(cls, directory: Path, passphrase: str | None = None) -> Store:
        """Unlock an existing profile; :class:`ProfileError` if it cannot be."""
        directory = directory.expanduser()
        key = unlock(directory, read_profile(directory), passphrase)
        store = cls._connect(directory, key, create=False)
        # A wrong key derives a different blind index, so the check record is either
        # not found or fails authentication: both mean the same to the person.
        try:
            check = store.get(_CHECK_KIND, _CHECK_KIND)
        except ProfileError:
            check = None
        if check != _CHECK_VALUE:
            store.close()
            raise ProfileError("wrong passphrase, or the local store is damaged")
        return store

    @classmethod
    def _connect(cls, directory: Path, key: bytes, *, create: bool) -> Store:
        path = directory / DB_FILE
        if create:
            # Create the file ourselves so it is 0600 from its first byte; SQLite
            # gives its -wal and -shm files the same mode.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError as exc:
                raise ProfileError(
                    f"cannot create {path} ({exc.strerror}); remove a half-created profile first"
                ) from exc
        elif not path.exists():
            raise ProfileError(f"the local store {path} is missing")
        # check_same_thread=False: Client.open unlocks (Argon2id) in a worker thread
        # and then uses the connection from the event loop; never from two at once.
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            # Overwrite deleted rows (consumed prekeys, superseded ratchet states)
            # instead of leaving them in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if create:
                conn.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
            elif version != SCHEMA_VERSION:
                raise ProfileError(f"the local store {path} has unknown schema version {version}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ProfileError(f"{path} is damaged or not a Sottovoce store") from exc
        except ProfileError:
            conn.close()
            raise
        return cls(directory, conn, Vault(key))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Fold the write-ahead log back into the database and truncate it, so old
        # page images do not linger in store.db-wal (a no-op while another process
        # still reads the log; the last one to close truncates it).
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def discard(self) -> None:
        """Close and delete a profile this process has just created, when the account
        it was made for could not be registered: it holds nothing anyone needs."""
        self.close()
        for name in (PROFILE_FILE, KEY_FILE, DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm"):
            (self.directory / name).unlink(missing_ok=True)

    # -- transactions ---------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (nested uses join)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ProfileError("the local store is busy: another program has it open") from exc
        self._depth = 1
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    def _writing(self) -> None:
        if not self._depth:
            raise RuntimeError("store writes belong inside Store.transaction()")

    # -- records --------------------------------------------------------------

    def get(self, kind: str, name: str) -> bytes | None:
        lookup = self._vault.index(kind, name)
        row = self._conn.execute(
            "SELECT value FROM records WHERE kind = ? AND lookup = ?", (kind, lookup)
        ).fetchone()
        return None if row is None else self._vault.open(row_context(kind, lookup), row[0])

    def put(self, kind: str, name: str, value: bytes) -> None:
        self._writing()
        lookup = self._vault.index(kind, name)
        self._conn.execute(
            "INSERT OR REPLACE INTO records (kind, lookup, value) VALUES (?, ?, ?)",
            (kind, lookup, self._vault.seal(row_context(kind, lookup), value)),
        )

    def delete(self, kind: str, name: str) -> None:
        self._writing()
        self._conn.execute(
            "DELETE FROM records WHERE kind = ? AND lookup = ?",
            (kind, self._vault.index(kind, name)),
        )

    def all(self, kind: str) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT lookup, value FROM records WHERE kind = ?", (kind,)
        ).fetchall()
        return [self._vault.open(row_context(kind, lookup), value) for lookup, value in rows]

    def get_json(self, kind: str, name: str) -> dict[str, object] | None:
        raw = self.get(kind, name)
        return None if raw is None else _json_object(raw, kind)

    def put_json(self, kind: str, name: str, value: dict[str, object]) -> None:
        self.put(kind, name, json.dumps(value, separators=(",", ":")).encode())

    def all_json(self, kind: str) -> list[dict[str, object]]:
        return [_json_object(raw, kind) for raw in self.all(kind)]

    # -- history --------------------------------------------------------------

    def append_history(self, peer: str, entry: dict[str, object]) -> None:
        self._writing()
        peer_index = self._vault.index("history", peer)
        # Inside BEGIN IMMEDIATE nobody else can insert, so max + 1 is ours.
        (seq,) = self._conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM history").fetchone()
        value = json.dumps(entry, separators=(",", ":")).encode()
        self._conn.execute(
            "INSERT INTO history (seq, peer, value) VALUES (?, ?, ?)",
            (seq, peer_index, self._vault.seal(_history_context(peer_index, seq), value)),
        )

    def delete_history(self, peer: str) -> int:
        """Remove every entry with ``peer`` (a deleted message request); how many."""
        self._writing()
        cursor = self._conn.execute(
            "DELETE FROM history WHERE peer = ?", (self._vault.index("history", peer),)
        )
        return cursor.rowcount

    def delete_history_where(
        self, peer: str, doomed: Callable[[dict[str, object]], bool]
    ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        """Remove ``peer``'s entries for which ``doomed`` holds (expired disappearing
        messages); the removed entries and those kept, oldest first."""
        self._writing()
        peer_index = self._vault.index("history", peer)
        rows = self._conn.execute(
            "SELECT seq, value FROM history WHERE peer = ? ORDER BY seq", (peer_index,)
        ).fetchall()
        removed, kept = [], []
        for seq, value in rows:
            opened = self._vault.open(_history_context(peer_index, seq), value)
            entry = _json_object(opened, "history")
            if doomed(entry):
                self._conn.execute("DELETE FROM history WHERE seq = ?", (seq,))
                removed.append(entry)
            else:
                kept.append(entry)
        return removed, kept

    def history(self, peer: str, limit: int) -> list[dict[str, object]]:
        """The last ``limit`` entries with ``peer``, oldest first."""
        peer_index = self._vault.index("history", peer)
        rows = self._conn.execute(
            "SELECT seq, value FROM history WHERE peer = ? ORDER BY seq DESC LIMIT ?",
            (peer_index, limit),
        ).fetchall()
        return [
            _json_object(self._vault.open(_history_context(peer_index, seq), value), "history")
            for seq, value in reversed(rows)
        ]

    def history_page(
        self, peer: str, limit: int, before: int | None = None
    ) -> list[tuple[int, dict[str, object]]]:
        """Up to ``limit`` entries with ``peer`` older than position ``before`` (all,
        when None), oldest first, each with its position: a view pages back through
        long history without opening all of it."""
        peer_index = self._vault.index("history", peer)
        rows = self._conn.execute(
            "SELECT seq, value FROM history WHERE peer = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (peer_index, before if before is not None else 2**62, limit),
        ).fetchall()
        return [
            (
                seq,
                _json_object(self._vault.open(_history_context(peer_index, seq), value), "history"),
            )
            for seq, value in reversed(rows)
        ]

    def __repr__(self) -> str:
        return f"Store({self.directory})"


def _history_context(peer_index: bytes, seq: int) -> bytes:
    return row_context("history", peer_index, seq.to_bytes(8, "big"))


def _json_object(raw: bytes, kind: str) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ProfileError(f"a {kind} record of the local store is not valid JSON") from exc
    if not isinstance(value, dict):
        raise ProfileError(f"a {kind} record of the local store is not a JSON object")
    return value
