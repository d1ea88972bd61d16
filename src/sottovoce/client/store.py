"""The device's local store: one SQLite file whose every value is sealed by a Vault.

Layout of a profile directory::

    profile.json   how the store key is obtained (Argon2id salt and costs, or key file)
    store.key      32 random bytes, mode 0600 — only when no passphrase is used
    store.db       SQLite: records(kind, lookup, value) and history(seq, peer, value)

Changes that must land together (new session state, consumed prekeys, the message
and its dedup mark) go through one :meth:`Store.transaction`, so a crash leaves
either all of them or none.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sottovoce.client.errors import ProfileError
from sottovoce.client.vault import STORE_KEY_LEN, Vault
from sottovoce.crypto.password import SALT_LEN, Argon2Parameters, argon2id
from sottovoce.crypto.random import random_bytes

PROFILE_FILE = "profile.json"
KEY_FILE = "store.key"
DB_FILE = "store.db"
_CHECK = b"Sottovoce store v1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, lookup BLOB NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (kind, lookup)
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, peer BLOB NOT NULL, value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS history_peer ON history (peer, seq);
"""


def _derive_key(profile: dict[str, object], directory: Path, passphrase: str | None) -> bytes:
    if profile.get("kdf") == "keyfile":
        if passphrase is not None:
            raise ProfileError("this profile has no passphrase; open it without one")
        try:
            key = (directory / KEY_FILE).read_bytes()
        except OSError as exc:
            raise ProfileError(f"cannot read the key file in {directory}") from exc
        if len(key) != STORE_KEY_LEN:
            raise ProfileError("the key file is damaged")
        return key
    if passphrase is None:
        raise ProfileError("this profile is locked with a passphrase")
    params = Argon2Parameters(
        memory_kib=int(str(profile["memory_kib"])),
        iterations=int(str(profile["iterations"])),
        lanes=int(str(profile["lanes"])),
    )
    salt = base64.b64decode(str(profile["salt"]))
    return argon2id(passphrase.encode(), salt, STORE_KEY_LEN, params)


class Store:
    def __init__(self, directory: Path, conn: sqlite3.Connection, vault: Vault) -> None:
        self.directory = directory
        self._conn = conn
        self._vault = vault
        self._depth = 0

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
        cls.ensure_absent(directory)
        directory = directory.expanduser()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        profile: dict[str, object]
        if passphrase is None:
            key = random_bytes(STORE_KEY_LEN)
            fd = os.open(directory / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
            profile = {"version": 1, "kdf": "keyfile"}
        else:
            params = argon2 or Argon2Parameters()
            profile = {
                "version": 1,
                "kdf": "argon2id",
                "salt": base64.b64encode(random_bytes(SALT_LEN)).decode(),
                "memory_kib": params.memory_kib,
                "iterations": params.iterations,
                "lanes": params.lanes,
            }
            key = _derive_key(profile, directory, passphrase)
        (directory / PROFILE_FILE).write_text(json.dumps(profile, indent=2))
        store = cls._connect(directory, key)
        with store.transaction():
            store.put("check", "check", _CHECK)
        return store

    @classmethod
    def open(cls, directory: Path, passphrase: str | None = None) -> Store:
        directory = directory.expanduser()
        try:
            profile = json.loads((directory / PROFILE_FILE).read_text())
        except FileNotFoundError as exc:
            raise ProfileError(f"no profile in {directory}; create an account first") from exc
        except (OSError, ValueError) as exc:
            raise ProfileError(f"the profile in {directory} is damaged") from exc
        store = cls._connect(directory, _derive_key(profile, directory, passphrase))
        # A wrong key derives a different blind index, so the check record is either
        # not found or fails authentication: both mean the same to the person.
        try:
            check = store.get("check", "check")
        except ProfileError:
            check = None
        if check != _CHECK:
            store.close()
            raise ProfileError("wrong passphrase, or the local store is damaged")
        return store

    @classmethod
    def _connect(cls, directory: Path, key: bytes) -> Store:
        conn = sqlite3.connect(directory / DB_FILE, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        os.chmod(directory / DB_FILE, 0o600)
        return cls(directory, conn, Vault(key))

    def close(self) -> None:
        self._conn.close()

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
        self._conn.execute("BEGIN IMMEDIATE")
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

    # -- records --------------------------------------------------------------

    def get(self, kind: str, name: str) -> bytes | None:
        lookup = self._vault.index(kind, name)
        row = self._conn.execute(
            "SELECT value FROM records WHERE kind = ? AND lookup = ?", (kind, lookup)
        ).fetchone()
        return None if row is None else self._vault.open(kind, lookup, row[0])

    def put(self, kind: str, name: str, value: bytes) -> None:
        lookup = self._vault.index(kind, name)
        self._conn.execute(
            "INSERT OR REPLACE INTO records (kind, lookup, value) VALUES (?, ?, ?)",
            (kind, lookup, self._vault.seal(kind, lookup, value)),
        )

    def delete(self, kind: str, name: str) -> None:
        self._conn.execute(
            "DELETE FROM records WHERE kind = ? AND lookup = ?",
            (kind, self._vault.index(kind, name)),
        )

    def all(self, kind: str) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT lookup, value FROM records WHERE kind = ?", (kind,)
        ).fetchall()
        return [self._vault.open(kind, lookup, value) for lookup, value in rows]

    def get_json(self, kind: str, name: str) -> dict[str, object] | None:
        raw = self.get(kind, name)
        return None if raw is None else dict(json.loads(raw))

    def put_json(self, kind: str, name: str, value: dict[str, object]) -> None:
        self.put(kind, name, json.dumps(value, separators=(",", ":")).encode())

    # -- history --------------------------------------------------------------

    def append_history(self, peer: str, entry: dict[str, object]) -> None:
        peer_index = self._vault.index("history", peer)
        self._conn.execute(
            "INSERT INTO history (peer, value) VALUES (?, ?)",
            (
                peer_index,
                self._vault.seal("history", peer_index, json.dumps(entry).encode()),
            ),
        )

    def history(self, peer: str, limit: int) -> list[dict[str, object]]:
        peer_index = self._vault.index("history", peer)
        rows = self._conn.execute(
            "SELECT value FROM history WHERE peer = ? ORDER BY seq DESC LIMIT ?",
            (peer_index, limit),
        ).fetchall()
        return [json.loads(self._vault.open("history", peer_index, r[0])) for r in reversed(rows)]

    def __repr__(self) -> str:
        return f"Store({self.directory})"
