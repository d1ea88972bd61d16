"""Attachment ciphertext: a metadata row in the database, the bytes in a file.

The server cannot read a blob (client.attachments encrypts it on the device);
this module only keeps the bytes and the offset an upload resumes at. The row
(``schema.blobs``) holds the declared size and ``received``, the offset the
upload stands at; the bytes live in ``<blob directory>/<blob_id>``. A segment
is written at its offset and fsync'd *before* ``received`` moves past it, so an
acknowledged offset always names bytes that are on disk; bytes written but not
yet counted (a crash in between) are overwritten when the upload resumes.

Appends to one blob are serialized by a POSIX record lock on its file (which
NFS and other shared file systems honour across nodes) plus an in-process lock
(POSIX locks are per process), and ``received`` moves only from the value read.
A client keeps two segments in flight on two connections, so the later one may
be first to ask; it waits (bounded) for the upload to reach its offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.schema import blobs

DEFAULT_DIRECTORY = Path("sottovoce-blobs")
# One read from disk per download step: large enough that the per-step cost
# (a thread hop, one send) vanishes next to the copy, small enough to stay flat.
READ_BYTES = 1024 * 1024


def blob_directory(db_url: str, configured: Path | None) -> Path:
    """Where blob files live: as configured, else ``blobs`` beside a SQLite
    database file, else ``./sottovoce-blobs`` (docs/operations.md)."""
    if configured is not None:
        return configured
    if db_url.startswith("sqlite") and ":///" in db_url:
        path = db_url.split(":///", 1)[1]
        if path and ":memory:" not in path:
            return Path(path).parent / "blobs"
    return DEFAULT_DIRECTORY


@dataclass(frozen=True, slots=True)
class BlobRecord:
    pk: int
    blob_id: str
    uploader_device_pk: int
    size: int
    received: int

    @property
    def complete(self) -> bool:
        return self.received == self.size


class OffsetMismatch(Exception):
    def __init__(self, received: int) -> None:
        super().__init__(f"the upload is at offset {received}")
        self.received = received


class TooLong(Exception):
    pass


# One asyncio lock per blob being appended to, shared by every BlobStore of the process.
_APPENDING: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


# How often a segment waiting for its turn looks at the database again: the one
# before it may be stored by another node, which cannot wake this one.
_POLL_S = 0.05
# Per blob, the event set when its upload moves on (this process's appends).
_MOVES: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()


def _moved(blob_id: str) -> None:
    event = _MOVES.pop(blob_id, None)
    if event is not None:
        event.set()


async def _await_move(blob_id: str, timeout: float) -> None:
    event = _MOVES.setdefault(blob_id, asyncio.Event())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _write_at(path: Path, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset``, cut anything after it, and fsync."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, data, offset)
        os.ftruncate(fd, offset + len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


class _FileLock:
    """An exclusive POSIX record lock on ``path`` (blocking; run it in a thread)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        os.close(self._fd)  # closing drops the lock


class BlobStore:
    def __init__(self, engine: AsyncEngine, directory: Path) -> None:
        self._engine = engine
        self._directory = directory

    def _path(self, blob_id: str) -> Path:
        return self._directory / blob_id

    async def create(self, blob_id: str, device_pk: int, size: int, day: int) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        async with self._engine.begin() as conn:
            await conn.execute(
                blobs.insert().values(
                    blob_id=blob_id,
                    uploader_device_pk=device_pk,
                    size=size,
                    received=0,
                    created_day=day,
                )
            )

    async def get(self, blob_id: str) -> BlobRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        blobs.c.id,
                        blobs.c.blob_id,
                        blobs.c.uploader_device_pk,
                        blobs.c.size,
                        blobs.c.received,
                    ).where(blobs.c.blob_id == blob_id)
                )
            ).first()
        return None if row is None else BlobRecord(*row)

    async def _received(self, record: BlobRecord) -> int:
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(blobs.c.received).where(blobs.c.id == record.pk))
            ).scalar_one()
        return int(value)

    async def append(self, record: BlobRecord, offset: int, data: bytes, wait_s: float = 0) -> int:
        """Append ``data`` at ``offset``, which must be where the upload stands; the
        new offset. The bytes are on disk before the offset moves past them. A
        segment that arrives ahead of the offset (the client sends the next one
        while this one is stored) waits up to ``wait_s`` for the upload to reach it."""
        if offset + len(data) > record.size:
            raise TooLong()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            stored, current = await self._append_if_at(record, offset, data)
            if stored:
                _moved(record.blob_id)
                return current
            left = deadline - loop.time()
            if current > offset or left <= 0:
                raise OffsetMismatch(current)
            await _await_move(record.blob_id, min(left, _POLL_S))

    async def _append_if_at(self, record: BlobRecord, offset: int, data: bytes) -> tuple[bool, int]:
        """Write ``data`` if the upload stands at ``offset``: whether it did, and
        where the upload stands then."""
        lock = _APPENDING.setdefault(record.blob_id, asyncio.Lock())
        path = self._path(record.blob_id)
        async with lock:
            file_lock = _FileLock(path)
            try:
                await asyncio.to_thread(file_lock.acquire)
                current = await self._received(record)
                if current != offset:
                    return False, current
                await asyncio.to_thread(_write_at, path, offset, data)
                async with self._engine.begin() as conn:
                    moved = await conn.execute(
                        update(blobs)
                        .where(blobs.c.id == record.pk, blobs.c.received == offset)
                        .values(received=offset + len(data))
                    )
                if moved.rowcount != 1:
                    return False, await self._received(record)
            finally:
                file_lock.release()
        return True, offset + len(data)

    async def read(self, record: BlobRecord, offset: int) -> AsyncIterator[bytes]:
        """The bytes from ``offset`` to the end, ``READ_BYTES`` at a time."""
        source = await asyncio.to_thread(self._path(record.blob_id).open, "rb")
        try:
            source.seek(offset)
            left = record.received - offset
            while left > 0:
                data = await asyncio.to_thread(source.read, min(READ_BYTES, left))
                if not data:
                    raise OSError(f"blob file {record.blob_id} is shorter than its record")
                left -= len(data)
                yield data
        finally:
            source.close()

    async def sweep(self, before_day: int) -> int:
        """Delete blobs created before ``before_day``, rows and files; how many."""
        async with self._engine.begin() as conn:
            expired = select(blobs.c.blob_id).where(blobs.c.created_day < before_day)
            old = (await conn.execute(expired)).scalars().all()
            await conn.execute(delete(blobs).where(blobs.c.created_day < before_day))
        for blob_id in old:
            self._path(blob_id).unlink(missing_ok=True)
        return len(old)
