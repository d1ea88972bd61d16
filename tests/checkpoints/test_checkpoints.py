"""WAL checkpoints run on their own thread, not inside the writers' commits
(storage.checkpoints), and committed rows stay committed across them."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sottovoce.storage import checkpoints
from sottovoce.storage.round_connection import sqlite_pragmas

ROWS = 200
WAIT_S = 20.0  # bounded wait for the thread's next passes, on a loaded machine


def _writer(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    sqlite_pragmas(connection, None)
    return connection


def _checkpointed_rows(path: Path) -> int:
    """Rows in the database file itself: ``immutable=1`` reads no WAL."""
    reader = sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True)
    try:
        return int(reader.execute("SELECT count(*) FROM item").fetchone()[0])
    except sqlite3.OperationalError:  # the table itself is still only in the WAL
        return 0
    finally:
        reader.close()


def test_writers_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    writer = _writer(path)
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert writer.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    autocheckpoint = writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert autocheckpoint == checkpoints.WRITER_CHECKPOINT_PAGES
    writer.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body BLOB)")
    for i in range(ROWS):  # one commit each, far below the writers' own threshold
        writer.execute("INSERT INTO item (id, body) VALUES (?, ?)", (i, bytes(500)))
    assert _checkpointed_rows(path) == 0  # all of it still only in the WAL

    checkpointer = checkpoints.for_database(str(path))
    assert checkpointer is not None
    try:
        deadline = time.monotonic() + WAIT_S
        while _checkpointed_rows(path) < ROWS and time.monotonic() < deadline:
            time.sleep(checkpoints.CHECKPOINT_INTERVAL_S)
        assert _checkpointed_rows(path) == ROWS
        # Writers go on while the thread checkpoints; nothing committed is lost.
        for i in range(ROWS, 2 * ROWS):
            writer.execute("INSERT INTO item (id, body) VALUES (?, ?)", (i, bytes(500)))
    finally:
        checkpointer.stop()
    writer.close()
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT count(*) FROM item").fetchone()[0] == 2 * ROWS
    reader.close()


def test_a_missing_file_is_never_created(tmp_path: Path) -> None:
    path = tmp_path / "not-yet.db"
    checkpointer = checkpoints.for_database(str(path))
    assert checkpointer is not None
    time.sleep(3 * checkpoints.CHECKPOINT_INTERVAL_S)
    checkpointer.stop()
    assert not path.exists()


def test_no_thread_for_a_database_in_memory() -> None:
    assert checkpoints.for_database(":memory:") is None
    assert checkpoints.for_database(None) is None
    assert checkpoints.for_database("") is None


def test_an_idle_thread_sleeps_until_a_commit_wakes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "IDLE_CHECK_S", 3600.0)  # only a commit wakes it
    path = tmp_path / "node.db"
    writer = _writer(path)
    writer.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body BLOB)")
    checkpointer = checkpoints.for_database(str(path))
    assert checkpointer is not None
    try:
        _wait_for(lambda: checkpointer.idle)
        assert _checkpointed_rows(path) == 0  # the table is in the file, no row yet
        for i in range(ROWS):  # a writer that does not report its commits
            writer.execute("INSERT INTO item (id, body) VALUES (?, ?)", (i, bytes(500)))
        time.sleep(4 * checkpoints.CHECKPOINT_INTERVAL_S)
        assert checkpointer.idle
        assert _checkpointed_rows(path) == 0  # still asleep: nothing copied
        checkpointer.wrote()  # as the node's engines do after each commit
        _wait_for(lambda: _checkpointed_rows(path) == ROWS)
        _wait_for(lambda: checkpointer.idle)  # and asleep again once all is copied
    finally:
        checkpointer.stop()
    writer.close()


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the checkpoint thread did not get there"
        time.sleep(checkpoints.CHECKPOINT_INTERVAL_S / 5)
