"""Encrypted backup: one file holding a profile, sealed under a recovery passphrase.

What it holds is the profile itself — ``profile.json``, ``store.key`` when the
profile has no passphrase, and a consistent snapshot of ``store.db`` (taken with
SQLite's online backup, so a running app or listener may keep writing) — so keys,
contacts, verifications, groups and history all come back. The snapshot's
values stay sealed under the store key as they are on disk; a profile with a
passphrase is unlocked after restore with that same passphrase.

File format::

    "SVBACKUP1\\n" || u32 header length || header JSON || nonce (12) || AES-256-GCM

The header names the Argon2id salt and costs; the key is
Argon2id(recovery passphrase, salt) (RFC 9106), the AAD is everything before the
nonce, so a changed cost, salt or magic fails authentication like a changed byte
of ciphertext. The default costs are stronger than the store's unlock, since a
backup file may sit anywhere for years: 256 MiB of memory, 4 passes, 4 lanes
(RFC 9106 §4 recommends at least 64 MiB; OWASP's 2023 guidance 19 MiB and 2 passes
as a floor). About two seconds on a laptop, once per export or restore.

Restoring writes a new profile directory whole or not at all: a wrong passphrase
or a damaged file raises :class:`BackupError` before anything is written. Ratchet
sessions are dropped on restore: the backup's session states are older than the
ones the old device went on to use, and sending from them again would reuse
message keys. The restored device starts fresh sessions (PQXDH) on its next send
to each contact; messages a contact sends on an old session before that cannot
be read, as when Signal restores a backup.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import struct
import tempfile
from pathlib import Path

from sottovoce.client.errors import ClientError
from sottovoce.client.session_record import SESSION
from sottovoce.client.store import DB_FILE, Store
from sottovoce.client.store_key import KEY_FILE, PROFILE_FILE
from sottovoce.crypto.aead import NONCE_LEN, aes_gcm
from sottovoce.crypto.errors import DecryptionFailed
from sottovoce.crypto.password import SALT_LEN, Argon2Parameters, argon2id
from sottovoce.crypto.random import random_bytes

MAGIC = b"SVBACKUP1\n"
BACKUP_ARGON2 = Argon2Parameters(memory_kib=256 * 1024, iterations=4, lanes=4)
# A header is a few dozen bytes; anything larger is not a backup of ours.
MAX_HEADER_BYTES = 1024
# Costs a backup file may ask for: a tampered header must not make restore
# allocate gigabytes or spin for hours before authentication fails.
MAX_MEMORY_KIB = 2 * 1024 * 1024
MAX_ITERATIONS = 64
MIN_PASSPHRASE_CHARS = 8
_FILES = (PROFILE_FILE, KEY_FILE)


class BackupError(ClientError):
    """A backup cannot be made or restored; nothing was changed."""


def _key(passphrase: str, salt: bytes, params: Argon2Parameters) -> bytes:
    return argon2id(passphrase.encode("utf-8"), salt, 32, params)


def _snapshot(directory: Path) -> bytes:
    """store.db as of one instant, through SQLite's online backup."""
    source = sqlite3.connect(f"file:{directory / DB_FILE}?mode=ro", uri=True)
    target = sqlite3.connect(":memory:")
    try:
        source.backup(target)
        return target.serialize()
    finally:
        source.close()
        target.close()


def export_backup(
    store: Store,
    destination: Path,
    passphrase: str,
    *,
    argon2: Argon2Parameters | None = None,
) -> None:
    """Write the profile of ``store`` to ``destination`` (0600, replaced atomically)."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise BackupError(f"a recovery passphrase has at least {MIN_PASSPHRASE_CHARS} characters")
    directory = store.directory
    files = {
        name: base64.b64encode((directory / name).read_bytes()).decode()
        for name in _FILES
        if (directory / name).exists()
    }
    files[DB_FILE] = base64.b64encode(_snapshot(directory)).decode()
    payload = json.dumps({"version": 1, "files": files}, separators=(",", ":")).encode()
    params = argon2 or BACKUP_ARGON2
    salt = random_bytes(SALT_LEN)
    header = json.dumps(
        {
            "kdf": "argon2id",
            "salt": base64.b64encode(salt).decode(),
            "memory_kib": params.memory_kib,
            "iterations": params.iterations,
            "lanes": params.lanes,
            "aead": "AES-256-GCM",
        },
        separators=(",", ":"),
    ).encode()
    prefix = MAGIC + struct.pack(">I", len(header)) + header
    nonce = random_bytes(NONCE_LEN)
    sealed = aes_gcm(_key(passphrase, salt, params)).seal(nonce, payload, prefix)
    destination = destination.expanduser()
    partial = destination.with_name(destination.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(prefix + nonce + sealed)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(destination)


def _parse(data: bytes) -> tuple[bytes, Argon2Parameters, bytes, bytes, bytes]:
    if not data.startswith(MAGIC):
        raise BackupError("this file is not a Sottovoce backup")
    at = len(MAGIC)
    if len(data) < at + 4:
        raise BackupError("the backup file is cut short")
    (length,) = struct.unpack(">I", data[at : at + 4])
    if length > MAX_HEADER_BYTES or len(data) < at + 4 + length + NONCE_LEN:
        raise BackupError("the backup file is damaged (its header)")
    raw_header = data[at + 4 : at + 4 + length]
    try:
        header = json.loads(raw_header)
        salt = base64.b64decode(header["salt"], validate=True)
        params = Argon2Parameters(
            int(header["memory_kib"]), int(header["iterations"]), int(header["lanes"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError("the backup file is damaged (its header)") from exc
    if (
        header.get("kdf") != "argon2id"
        or len(salt) < SALT_LEN
        or not 8 * params.lanes <= params.memory_kib <= MAX_MEMORY_KIB
        or not 1 <= params.iterations <= MAX_ITERATIONS
        or not 1 <= params.lanes <= 64
    ):
        raise BackupError("the backup file is damaged (its key derivation)")
    body = at + 4 + length
    return data[:body], params, salt, data[body : body + NONCE_LEN], data[body + NONCE_LEN :]


def restore_backup(source: Path, profile_dir: Path, passphrase: str) -> None:
    """Recreate the profile in ``profile_dir``, which must not exist yet."""
    profile_dir = profile_dir.expanduser()
    if profile_dir.exists() and any(profile_dir.iterdir()):
        raise BackupError(f"{profile_dir} is not empty; restore into a new directory")
    try:
        data = source.expanduser().read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {source}") from exc
    prefix, params, salt, nonce, sealed = _parse(data)
    try:
        payload = aes_gcm(_key(passphrase, salt, params)).open(nonce, sealed, prefix)
    except DecryptionFailed:
        raise BackupError("wrong recovery passphrase, or the backup file is damaged") from None
    files = json.loads(payload)["files"]
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=profile_dir.parent))
    try:
        for name in (*_FILES, DB_FILE):
            if name in files:
                path = staging / name
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(base64.b64decode(files[name]))
        with sqlite3.connect(staging / DB_FILE) as db:
            db.execute("DELETE FROM records WHERE kind = ?", (SESSION,))
        db.close()
        if profile_dir.exists():
            profile_dir.rmdir()
        staging.replace(profile_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
