"""Look-ups a node keeps in memory while it is the only node, exact all the same.

Every send reads its recipient's account with the devices (and the sender's own,
for the copies to its other devices) and whether the recipient reported blocking
the sender. The stale-devices check compares the envelopes against that device
list, which changes only when a device is linked or removed; blocks change when a
person reports or lifts one. So a node that is alone (no other node writes the
database: the in-process fan-out, ``Fanout.single_node``) keeps what it read and
answers the next sends from memory. With other nodes about, the server does not
ask these copies at all (``Repository.accounts``, ``SafetyStore.first_contact``),
since their writes would not reach them.

Exact on one node because every write to the tables a look-up reads, made
through the node's engine by whichever module (an ``INSERT``, ``UPDATE`` or
``DELETE`` of SQLAlchemy Core, as the storage layer writes; the rows that
``ON DELETE CASCADE`` removes from ``devices`` and ``reported_blocks`` go with a
delete from ``accounts``, itself kept), empties the copies when the statement
runs, and again when its connection goes back to the pool, after the commit or
rollback is done (SQLAlchemy's ``commit`` event fires before the database
commits, and an async commit waits for it: a read in between would still see the
old rows). Until then the copies are not used, and a read that was under way
meanwhile is not kept (:attr:`KeptReads._generation`). A look-up answered from
memory therefore sees what a statement of its own would have: the rows as of
before the write while its transaction is open, and the new rows once it committed.

Only found rows are kept: a new account needs no invalidation to be seen. A
statement that leaves the kept columns alone (a device's last-connection day)
says so with the execution option :data:`KEPT_READS_UNCHANGED`. A statement run
as the driver's SQL (storage.prepared) passes no ``before_execute``: none may
write :data:`KEPT_TABLES`, the only tables a kept look-up may read, which
``Prepared`` checks as it is built.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Table, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import UpdateBase

from sottovoce.storage.schema import accounts, devices, reported_blocks

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")

# Entries kept per look-up: every account (or pair of accounts) a busy community
# writes to; an account is ~1 KiB with its signed device list. Past it the oldest
# goes, to be read again when needed.
MAX_KEPT = 4096
# Execution option of a write to a kept table that changes none of the kept columns.
KEPT_READS_UNCHANGED = "kept_reads_unchanged"
# The tables kept look-ups read (the accounts with their devices, reported blocks):
# every write to them must pass through ``Connection.execute``.
KEPT_TABLES: frozenset[Table] = frozenset({accounts, devices, reported_blocks})


class KeptReads(Generic[Key, Value]):
    """``get_all(keys)``: ``read``'s answer for every key, from memory when every
    one was read before and nothing was written to ``tables`` since."""

    def __init__(
        self,
        engine: AsyncEngine,
        tables: Sequence[Table],
        read: Callable[[Sequence[Key]], Awaitable[list[Value | None]]],
        max_entries: int = MAX_KEPT,
    ) -> None:
        self._read = read
        self._tables = frozenset(tables)
        if not self._tables <= KEPT_TABLES:
            unlisted = sorted(t.name for t in self._tables - KEPT_TABLES)
            raise ValueError(f"kept look-ups read only KEPT_TABLES, not {unlisted}")
        self._max_entries = max_entries
        self._entries: dict[Key, Value] = {}
        # Bumped by every invalidation: a read that began before one is not kept.
        self._generation = 0
        # Pooled connections (their ``info``) that wrote to the tables and have not
        # gone back to the pool yet.
        self._writing: set[int] = set()
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "before_execute", self._before_execute)
        event.listen(sync_engine, "checkin", self._checked_in)

    async def get_all(self, keys: Sequence[Key]) -> list[Value | None]:
        entries = self._entries
        if not self._writing:
            kept = [entries.get(key) for key in keys]
            if None not in kept:
                return kept
        generation = self._generation
        found = await self._read(keys)
        if generation == self._generation and not self._writing:
            for key, value in zip(keys, found, strict=True):
                if value is not None:
                    self._keep(key, value)
        return found

    def _keep(self, key: Key, value: Value) -> None:
        entries = self._entries
        if key not in entries and len(entries) >= self._max_entries:
            del entries[next(iter(entries))]  # the oldest kept
        entries[key] = value

    def _invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()

    def _before_execute(
        self,
        conn: Connection,
        statement: Any,
        multiparams: Any,
        params: Any,
        execution_options: dict[str, Any],
    ) -> None:
        if (
            isinstance(statement, UpdateBase)
            and statement.table in self._tables
            and not execution_options.get(KEPT_READS_UNCHANGED)
        ):
            self._writing.add(id(conn.info))
            self._invalidate()

    def _checked_in(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        """The connection is back in the pool: its transaction is over, committed or
        rolled back (the record's ``info`` is the same dict the connection had)."""
        if id(record.info) in self._writing:
            self._writing.discard(id(record.info))
            self._invalidate()
