"""Statements rendered once and run as the driver's SQL (storage.prepared): the
same rows, transactions, errors and statement events as ``Connection.execute``.
On SQLite, or PostgreSQL with ``SOTTOVOCE_TEST_DB=postgresql``."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Table, bindparam, delete, event, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.base import Executable

from sottovoce.storage import queue_writes, round_connection
from sottovoce.storage.kept_reads import KEPT_TABLES
from sottovoce.storage.prepared import Prepared, chunks
from sottovoce.storage.repository import Envelope, Repository
from sottovoce.storage.schema import (
    accounts,
    devices,
    queued_messages,
    reported_blocks,
    send_receipts,
)
from tests.support.repository import migrated_repository, new_device


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    async with migrated_repository(tmp_path) as repository:
        yield repository


@given(st.integers(min_value=0, max_value=5000), st.sampled_from([1, 2, 64, 256]))
def test_chunks_cover_the_rows_once_in_power_of_two_pieces(count: int, largest: int) -> None:
    covered = 0
    pieces = list(chunks(count, largest))
    for start, size in pieces:  # consecutive, none empty or past the largest
        assert start == covered and 0 < size <= largest and size & (size - 1) == 0
        covered += size
    assert covered == count
    assert len(pieces) <= count // largest + largest.bit_length()


_RECEIPT = Prepared(
    lambda: (
        insert(send_receipts)
        .values(digest=bindparam("digest"), expires_hour=bindparam("hour"))
        .returning(send_receipts.c.digest, send_receipts.c.expires_hour)
    ),
    ["digest", "hour"],
)


async def test_rows_transactions_events_and_errors_are_the_engines(repo: Repository) -> None:
    statements: list[str] = []
    event.listen(
        repo.rounds_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )

    def insert_twice(conn: Connection) -> tuple[list[tuple[bytes, int]], str]:
        with conn.begin():
            rows = [tuple(r) for r in _RECEIPT.execute(conn, [b"d" * 32, 7])]
        try:
            with conn.begin():
                _RECEIPT.execute(conn, [b"e" * 32, 8])  # rolled back with the next
                _RECEIPT.execute(conn, [b"d" * 32, 9])  # the same primary key again
        except IntegrityError as exc:
            return rows, str(exc)
        raise AssertionError("a repeated primary key was stored")

    rows, error = await round_connection.for_engine(repo.engine).run(insert_twice)
    assert rows == [(b"d" * 32, 7)]
    assert "ddddd" not in error and "9" not in error.split("[SQL:")[-1]  # no values shown
    assert len(statements) == 3 and statements[0].startswith("INSERT INTO send_receipts")
    async with repo.engine.connect() as conn:
        stored = (await conn.execute(select(send_receipts.c.digest))).scalars().all()
    assert stored == [b"d" * 32]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), asyncpg.dialect()], ids=["sqlite", "pg"])
def test_a_statement_needs_its_parameters_in_the_order_of_its_text(dialect: Dialect) -> None:
    reversed_names = Prepared(
        lambda: insert(send_receipts).values(
            digest=bindparam("digest"), expires_hour=bindparam("hour")
        ),
        ["hour", "digest"],
    )
    expanding = Prepared(
        lambda: select(send_receipts).where(
            send_receipts.c.digest.in_(bindparam("d", expanding=True))
        ),
        ["d"],
    )
    for statement in (reversed_names, expanding):
        with pytest.raises(ValueError):
            statement._render(dialect)
    assert _RECEIPT._render(dialect).startswith("INSERT INTO send_receipts")


async def test_a_round_of_many_copies_gets_each_copy_its_own_queue_id(repo: Repository) -> None:
    sender = await new_device(repo, "sender")
    recipients = [await new_device(repo, f"r{i}") for i in range(5)]
    sends = [
        queue_writes.Enqueue(
            sender.pk,
            sender.address,
            1,
            f"m{n}",
            tuple(Envelope(r.pk, "message", f"{n}:{r.pk}".encode()) for r in recipients),
            1000 + n,
            1000,
        )
        for n in range(70)  # 350 copies: more than one insert statement's
    ]
    outcomes = await round_connection.for_engine(repo.engine).run(queue_writes.serve_round, sends)
    async with repo.engine.connect() as conn:
        stored = {
            row.id: (row.recipient_device_pk, row.message_id, row.body)
            for row in await conn.execute(select(queued_messages))
        }
    returned = [m for outcome in outcomes for m in outcome]  # type: ignore[union-attr]
    assert len(returned) == len(stored) == 350
    for message in returned:
        assert stored[message.id] == (message.recipient_device_pk, message.message_id, message.body)
        assert message.body == f"{message.message_id[1:]}:{message.recipient_device_pk}".encode()


@pytest.mark.parametrize("table", [accounts, devices, reported_blocks], ids=lambda t: t.name)
def test_no_prepared_statement_writes_a_table_that_kept_reads_read(table: Table) -> None:
    """Its write would pass no ``before_execute``, and a node alone would go on
    answering sends from the copies it kept (storage.kept_reads)."""
    assert table in KEPT_TABLES
    first = table.c[next(iter(table.c.keys()))]
    written = delete(table).where(first == bindparam("key")).returning(first).cte("written")
    writes = [
        insert(table).values({first.name: bindparam("key")}),
        update(table).values({first.name: bindparam("key")}),
        delete(table).where(first == bindparam("key")),
        select(written.c[first.name]),  # a write inside a select
        insert(queued_messages).from_select([queued_messages.c.id], select(written)),
    ]
    for write in writes:
        with pytest.raises(ValueError, match=f"may not write {table.name}"):
            Prepared(lambda: write, ["key"])._render(sqlite.dialect())  # noqa: B023
    reading = Prepared(lambda: select(table).where(first == bindparam("key")), ["key"])
    assert reading._render(sqlite.dialect()).startswith("SELECT")


def test_a_prepared_statement_keeps_only_its_sql() -> None:
    """The Core statement is built to be rendered, then dropped: the send path's
    shapes bind thousands of parameters, which kept were most of a node's heap."""
    built: list[weakref.ref[Executable]] = []

    def build() -> Executable:
        statement = insert(send_receipts).values(digest=bindparam("d"), expires_hour=bindparam("h"))
        built.append(weakref.ref(statement))
        return statement

    prepared = Prepared(build, ["d", "h"])
    assert built == []  # nothing built until it is first needed
    sql = prepared._render(sqlite.dialect())
    assert sql.startswith("INSERT INTO send_receipts") and len(built) == 1
    gc.collect()
    assert built[0]() is None  # not held by the Prepared
