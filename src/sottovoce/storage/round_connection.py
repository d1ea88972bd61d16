"""Where the send path's rounds run: one synchronous function a round, one hand-off.

A round (storage.rounds) is written as a plain function over a synchronous
SQLAlchemy ``Connection``. Awaiting each of its statements on the async engine
would cost a hop to aiosqlite's thread and back per call (a futex wake-up each
way, several a statement); here the whole function is one hop:

- SQLite: a thread of its own owns one ``sqlite+pysqlite`` connection on the same
  file (the same pragmas: WAL, so the async engine's readers and this writer run
  side by side). The rounds take their turn on it, as they did on the single
  writer before; a round's reads run there too, between two writes, as each round
  is short and the thread is one core's work anyway.
- PostgreSQL: the function runs on a pooled asyncpg connection through
  ``AsyncConnection.run_sync`` (greenlets, no thread); a read round's
  (:meth:`RoundConnection.read`) in autocommit mode.

The function opens its own transactions (``with conn.begin():``) and leaves none
open, so a read sees what committed before its round began.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from sottovoce.storage import checkpoints

Params = ParamSpec("Params")
Result = TypeVar("Result")
RoundBody = Callable[Concatenate[Connection, Params], Result]


def sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    """Every SQLite connection of a node, async or not: WAL lets readers run beside
    the single writer; NORMAL sync is durable across process crashes in WAL mode."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Checkpoints run on their own thread (storage.checkpoints), not in a commit.
    cursor.execute(f"PRAGMA wal_autocheckpoint={checkpoints.WRITER_CHECKPOINT_PAGES}")
    cursor.close()


class RoundConnection:
    """``await run(body, *args)``: ``body(conn, *args)`` on the engine's round
    connection; one per engine (:func:`for_engine`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # A round's read is one statement: on PostgreSQL it needs no BEGIN and
        # ROLLBACK around it (two round trips), its own snapshot is the statement's.
        self._reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sqlite: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._conn: Connection | None = None  # the thread's, opened on first use
        self._checkpoints: checkpoints.Checkpointer | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = create_engine(
                engine.url.set(drivername="sqlite+pysqlite"),
                hide_parameters=True,
                poolclass=NullPool,
            )
            event.listen(self._sqlite, "connect", sqlite_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sottovoce-rounds")
            self._checkpoints = checkpoints.for_database(engine.url.database)
            if self._checkpoints is not None:  # every commit of the node wakes it
                for commits in (self._sqlite, engine.sync_engine):
                    event.listen(commits, "commit", self._checkpoints.wrote)

    async def read(
        self, body: RoundBody[Params, Result], *args: Params.args, **kwargs: Params.kwargs
    ) -> Result:
        """:meth:`run` for a ``body`` that executes one read-only statement."""
        return await self._on(self._reads, body, *args, **kwargs)

    async def run(
        self, body: RoundBody[Params, Result], *args: Params.args, **kwargs: Params.kwargs
    ) -> Result:
        return await self._on(self._engine, body, *args, **kwargs)

    @property
    def sync_engine(self) -> Engine:
        """The engine the rounds' statements go through (for event listeners)."""
        return self._engine.sync_engine if self._sqlite is None else self._sqlite

    async def _on(
        self,
        engine: AsyncEngine,
        body: RoundBody[Params, Result],
        *args: Params.args,
        **kwargs: Params.kwargs,
    ) -> Result:
        """``body`` on a pooled connection of ``engine`` (PostgreSQL); on SQLite on
        the thread's one connection, which serves reads and writes alike."""
        if self._thread is None:
            async with engine.connect() as conn:
                return await conn.run_sync(body, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: body(self._own(), *args, **kwargs))

    def _own(self) -> Connection:
        """The thread's connection (only ever used on that thread)."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            assert self._sqlite is not None
            self._conn = self._sqlite.connect()
        return self._conn

    async def close(self) -> None:
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        await asyncio.get_running_loop().run_in_executor(thread, self._close_own)
        thread.shutdown(wait=True)
        if self._checkpoints is not None:
            await asyncio.to_thread(self._checkpoints.stop)

    def _close_own(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        assert self._sqlite is not None
        self._sqlite.dispose()


_by_engine: weakref.WeakKeyDictionary[Engine, RoundConnection] = weakref.WeakKeyDictionary()


def for_engine(engine: AsyncEngine) -> RoundConnection:
    """The round connection of ``engine``, shared by the Repository and the stores
    built on its engine (storage.safety); the Repository closes it."""
    found = _by_engine.get(engine.sync_engine)
    if found is None:
        found = _by_engine[engine.sync_engine] = RoundConnection(engine)
    return found


async def close(engine: AsyncEngine) -> None:
    found = _by_engine.pop(engine.sync_engine, None)
    if found is not None:
        await found.close()
