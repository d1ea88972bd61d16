"""SQLite WAL checkpoints on a thread of their own, off the send path.

In WAL mode a commit appends the pages it changed to the ``-wal`` file, and a
checkpoint copies them back into the database file, syncing both
(https://www.sqlite.org/wal.html, "Checkpointing"). By default the connection
whose commit takes the WAL past 1,000 pages runs that checkpoint inside the
commit: on a node that is the rounds' writer (storage.round_connection), so the
round's callers and every round queued behind it waited for the copy and its
fdatasyncs, 20 to 130 ms on the shared development machine, about once a
second under load: the delivery latency's tail (docs/performance.md).

Here a thread with its own connection runs a PASSIVE checkpoint every
``CHECKPOINT_INTERVAL_S`` while the database is being written: it copies what
no reader still needs and waits for no reader or writer, and the writers
meanwhile keep appending to the WAL. Once a pass finds nothing new to copy the
thread sleeps until a commit wakes it (:meth:`Checkpointer.wrote`, called by
the node's engines, storage.round_connection), or at the latest
``IDLE_CHECK_S`` later for a writer outside the node: an idle node's thread
wakes a few times a minute instead of four times a second. The
writers checkpoint themselves only past ``WRITER_CHECKPOINT_PAGES``, a fallback
should this thread fall behind. Durability is unchanged: a commit is in the
WAL, synced as ``synchronous=NORMAL`` says, before it is answered; a
checkpoint only moves committed pages into the database file. The thread runs
the checkpoint inside SQLite, which releases the GIL, so the event loop keeps
running through it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# How often the WAL is copied back: often enough that the WAL stays a few MiB
# (a commit restarts it from its start once a checkpoint finished), rarely enough
# that an idle node does nothing measurable (a PASSIVE checkpoint with nothing
# to copy returns at once).
CHECKPOINT_INTERVAL_S = 0.25
# How long an idle thread sleeps unless a commit wakes it: a bound for writes
# the node's engines do not report (another process on the file).
IDLE_CHECK_S = 10.0
# The writers' own automatic checkpoint (SQLite's default is 1,000 pages): only
# if the thread could not keep up, about 64 MiB of WAL at 4 KiB pages.
WRITER_CHECKPOINT_PAGES = 16_000


class Checkpointer:
    """PASSIVE checkpoints of one SQLite database file until :meth:`stop`."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._stopping = threading.Event()
        self._written = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sottovoce-checkpoints", daemon=True)
        self._thread.start()

    def wrote(self, *_event: object) -> None:
        """A commit went into the WAL: wake an idle thread (cheap when it is awake).
        Also an engine's ``commit`` event listener."""
        if not self._written.is_set():
            self._written.set()

    @property
    def idle(self) -> bool:
        """Whether the thread sleeps until a commit wakes it."""
        return self._idle.is_set()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        last: tuple[int, int] | None = None
        idle = False
        try:
            while True:
                if idle:
                    self._idle.set()
                    self._written.wait(IDLE_CHECK_S)
                    self._idle.clear()
                self._written.clear()
                # The commits of an interval go together into one pass.
                if self._stopping.wait(CHECKPOINT_INTERVAL_S):
                    break
                if connection is None:
                    connection = self._open()
                wal = None if connection is None else self._checkpoint(connection)
                if wal is None and connection is not None:
                    connection.close()  # open afresh next time
                    connection = None
                # Idle: no file yet, or every frame of the WAL was copied and none
                # was added since the last pass.
                idle = connection is None or (wal == last and wal is not None and wal[0] == wal[1])
                last = wal
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection) -> tuple[int, int] | None:
        """One PASSIVE pass: the WAL's frames and how many of them are in the
        database file (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint);
        ``None`` if it failed (not a lock: PASSIVE never waits on one)."""
        try:
            _, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("a WAL checkpoint failed: %s", type(exc).__name__)
            return None
        return int(frames), int(copied)

    def _open(self) -> sqlite3.Connection | None:
        """A connection to the file once it exists (``mode=rw`` never creates one)."""
        if not self._path.exists():
            return None
        try:
            return sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=rw", uri=True)
        except sqlite3.Error:
            return None

    def stop(self) -> None:
        self._stopping.set()
        self._written.set()
        self._thread.join()


def for_database(database: str | None) -> Checkpointer | None:
    """A checkpointer for an SQLite database file; none for an in-memory one."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Checkpointer(database)
