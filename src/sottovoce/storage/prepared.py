"""The send path's statements, compiled once per dialect and run as the driver's SQL.

``Connection.execute`` of a Core statement pays, on every call, for the
statement's cache key (a walk over all its terms, up to MAX_BATCH of them on
the send path), a cache look-up, the parameters' assembly and each value's bind
processor; with an expanding ``IN`` also a new rendering of the SQL; and
``exec_driver_sql`` still builds the result's metadata from the cursor's
description each time. On an SQLite node that was most of the rounds thread's
time: about 50 µs a statement around 6 µs of SQLite's own (docs/performance.md).

A :class:`Prepared` statement is compiled once per dialect to the SQL string
SQLAlchemy would send and the order of its parameters. The Core statement is
built for that and then dropped: the send path's shapes bind up to a few
thousand parameters each, and kept they were most of a loaded node's heap
(``BindParameter`` objects, ~13 MiB for every shape). On SQLite it then runs
on the driver's cursor of the same connection, inside the same transaction
(``Connection.begin`` still begins and commits it), with SQLAlchemy's
``before_cursor_execute`` listeners told of it and a driver error raised as
SQLAlchemy's (``IntegrityError`` …), as ``Connection.execute`` would. On
PostgreSQL it runs through ``Connection.exec_driver_sql``, which also handles a
connection the server cut (the pool is dropped, exc.connection_invalidated);
asyncpg then reuses its prepared statement, the string being the same every time.

For statements whose values the driver takes as they are (integers, strings,
bytes, ``None``, arrays of those) and whose every value is a parameter of its
own (no expanding ``IN``: a shape per count instead, batched_reads.padded).
Their rows are the driver's, by position (bytes for binary columns). None writes
a table that kept look-ups read (kept_reads.KEPT_TABLES), which is checked as it
is compiled: SQLAlchemy's ``before_execute``, by which those copies are emptied,
does not see these statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import ARRAY, Connection, Integer, LargeBinary, String
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import visitors
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement

from sottovoce.storage.kept_reads import KEPT_TABLES

# The types whose values every driver takes unconverted (no bind processor needed).
_PLAIN_TYPES = (Integer, String, LargeBinary, ARRAY)

Rows = Sequence[Sequence[Any]]


class Prepared:
    """One Core statement, built by ``build`` and rendered once per dialect.
    ``names`` are its parameters in the order they appear in its text (checked
    when it is rendered), and :meth:`execute` takes their values in that order:
    no mapping to build and look up per call."""

    def __init__(self, build: Callable[[], Executable], names: Sequence[str]) -> None:
        self._build = build
        self._names = tuple(names)
        self._sql: dict[str, str] = {}

    def execute(self, conn: Connection, values: Sequence[object]) -> Rows:
        """The statement's rows (none for one without ``RETURNING``), all fetched."""
        dialect = conn.dialect
        sql = self._sql.get(dialect.name)
        if sql is None:
            sql = self._sql[dialect.name] = self._render(dialect)
        parameters = tuple(values)
        if dialect.name != "sqlite":
            return conn.exec_driver_sql(sql, parameters).all()
        cursor = conn.connection.cursor()
        try:
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, sql, parameters, None, False)
            cursor.execute(sql, parameters)
            return cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
            ) from exc
        finally:
            cursor.close()

    def _render(self, dialect: Dialect) -> str:
        statement = self._build()
        if not isinstance(statement, ClauseElement):
            raise TypeError(f"not a Core statement: {statement!r}")
        for element in visitors.iterate(statement):  # CTEs and INSERT … SELECT too
            if isinstance(element, UpdateBase) and element.table in KEPT_TABLES:
                raise ValueError(
                    f"a prepared statement may not write {element.table.name}: "
                    "kept look-ups would not see the write (storage.kept_reads)"
                )
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("a prepared statement takes no expanding or literal parameters")
        for name, bind in compiled.binds.items():
            if not isinstance(bind.type, _PLAIN_TYPES):
                raise TypeError(f"parameter {name} needs conversion: {bind.type!r}")
        if compiled.positiontup is None or tuple(compiled.positiontup) != self._names:
            raise ValueError(f"the parameters on {dialect.name} are not in the order given")
        return compiled.string


def chunks(count: int, largest: int) -> Iterator[tuple[int, int]]:
    """``(start, size)`` pieces covering ``count`` rows, each size a power of two
    no larger than ``largest`` (itself one), biggest first: a multi-row statement
    then takes one of a few shapes instead of one per row count."""
    start = 0
    while start < count:
        size = min(largest, 1 << ((count - start).bit_length() - 1))
        yield start, size
        start += size
