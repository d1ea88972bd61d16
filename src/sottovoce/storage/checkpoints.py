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
``CHECKPOINT_INTERVAL_S``: it copies what no reader still needs and waits for
no reader or writer, and the writers meanwhile keep appending to the WAL. The
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
# The writers' own automatic checkpoint (SQLite's default is 1,000 pages): only
# if the thread could not keep up, about 64 MiB of WAL at 4 KiB pages.
WRITER_CHECKPOINT_PAGES = 16_000


class Checkpointer:
    """PASSIVE checkpoints of one SQLite database file until :meth:`stop`."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sottovoce-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stopping.wait(CHECKPOINT_INTERVAL_S):
                if connection is None:
                    connection = self._open()
                if connection is None:
                    continue
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # Not a lock (PASSIVE never waits on one): open afresh next time.
                    log.warning("a WAL checkpoint failed: %s", type(exc).__name__)
                    connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()

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
        self._thread.join()


def for_database(database: str | None) -> Checkpointer | None:
    """A checkpointer for an SQLite database file; none for an in-memory one."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Checkpointer(database)
