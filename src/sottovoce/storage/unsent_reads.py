"""The queue reads of many woken streams: one statement a round (storage.rounds).

With Redis every delivery is a queue read (``server.live``): a round of sends
wakes each recipient's stream, and each stream reads its queue. Read one by one,
every one of those reads took a pooled connection, a hand-off and a statement of
its own, and at a few hundred messages a second those reads were most of the
node's statements and of its time on the event loop (docs/performance.md,
"PostgreSQL's latency at half rate"). Here the streams woken together are read
together: on PostgreSQL one statement over every device of the round (an
``unnest`` of the devices and their limits, each device's oldest rows by a
``LATERAL`` subquery on its index); on SQLite the round's statements run in one
hand-off to the round connection's thread. Each read still sees everything that
committed before its round began, so a stream woken after a commit finds the row.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Select,
    all_,
    and_,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage import round_connection
from sottovoce.storage.batched_reads import padded
from sottovoce.storage.prepared import Prepared
from sottovoce.storage.queue_records import QueuedMessage
from sottovoce.storage.rounds import Rounds
from sottovoce.storage.schema import queued_messages

# Streams one round reads at most; the rest wait for the next. Each may take up to
# a full fetch (server.limits.MAX_FETCH rows), all held in memory at once until
# the round's rows are handed out: this bounds one round's result as a few
# dozen concurrent reads bounded it before, while a round of woken streams with
# a row or two each still goes in one statement.
READS_PER_ROUND = 32


@dataclass(frozen=True, slots=True)
class UnsentRead:
    """One stream's read: its device's oldest ``limit`` rows but those in flight."""

    device_pk: int
    limit: int
    in_flight: tuple[int, ...]


class UnsentReads:
    """``fetch(device, limit, in_flight)``, the concurrent ones in one round."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._connection = round_connection.for_engine(engine)
        self._rounds: Rounds[UnsentRead, list[QueuedMessage]] = Rounds(
            self._read_round, READS_PER_ROUND
        )

    async def fetch(
        self, device_pk: int, limit: int, in_flight: Collection[int]
    ) -> list[QueuedMessage]:
        # The in-flight set as it is now: rows sent while the read waits for its
        # round are the stream's to skip (routes.websocket).
        return await self._rounds.submit(UnsentRead(device_pk, limit, tuple(in_flight)))

    async def _read_round(
        self, reads: Sequence[UnsentRead]
    ) -> list[list[QueuedMessage] | Exception]:
        return await self._connection.read(read_round, reads)


def read_round(
    conn: Connection, reads: Sequence[UnsentRead]
) -> list[list[QueuedMessage] | Exception]:
    """Every read of the round; no transaction is left open."""
    try:
        if conn.dialect.name != "postgresql":
            return [_read_one(conn, read) for read in reads]
        # One statement for the first read of each device; a device read twice in
        # a round (two connections, each with its own rows in flight) reads again.
        first: dict[int, int] = {}
        for i, read in enumerate(reads):
            first.setdefault(read.device_pk, i)
        found = _read_many(conn, [reads[i] for i in first.values()])
        return [
            found[read.device_pk] if first[read.device_pk] == i else _read_one(conn, read)
            for i, read in enumerate(reads)
        ]
    finally:
        conn.rollback()  # ends the reads' snapshot; nothing to commit


def _unsent(device_pk: ColumnElement[Any], not_in_flight: ColumnElement[bool]) -> Select[Any]:
    q = queued_messages.c
    columns = (q.id, q.recipient_device_pk, q.sender, q.sender_device, q.message_id, q.type)
    return (
        select(*columns, q.body, q.server_ts, q.commitment, q.franking_tag)
        .where(and_(queued_messages.c.recipient_device_pk == device_pk, not_in_flight))
        .order_by(queued_messages.c.id)
    )


@functools.cache
def _one_sqlite(in_flight: int) -> Prepared:
    """One read on SQLite, rendered once for each padded count of ids in flight
    (storage.prepared), its columns in QueuedMessage's order. SQLite's LIMIT comes
    with an OFFSET, a parameter too."""
    q = queued_messages.c
    flight = [f"flight{i}" for i in range(in_flight)]
    columns = (q.id, q.recipient_device_pk, q.sender, q.sender_device, q.message_id, q.type)
    return Prepared(
        lambda: (
            select(*columns, q.body, q.server_ts, q.commitment, q.franking_tag)
            .where(
                and_(
                    q.recipient_device_pk == bindparam("device_pk"),
                    q.id.not_in([bindparam(name, type_=Integer) for name in flight]),
                )
            )
            .order_by(q.id)
            .limit(bindparam("limit", type_=Integer))
            .offset(bindparam("offset", type_=Integer))
        ),
        ["device_pk", *flight, "limit", "offset"],
    )


# On PostgreSQL the ids in flight are one array parameter: an expanding IN would
# be a new statement text for each count, which asyncpg prepares (PostgreSQL
# parses and plans) again on each pooled connection. Both statements run as the
# driver's SQL (storage.prepared), their columns in QueuedMessage's order.
_NOT_IN_FLIGHT_POSTGRESQL = queued_messages.c.id != all_(
    bindparam("in_flight", type_=ARRAY(BigInteger))
)
_ONE_POSTGRESQL = Prepared(
    lambda: _unsent(bindparam("device_pk"), _NOT_IN_FLIGHT_POSTGRESQL).limit(
        bindparam("limit", type_=Integer)
    ),
    ["device_pk", "in_flight", "limit"],
)
# The round's devices and their limits as a table, each device's rows beside it.
# One exclusion array serves them all: a queue id is one device's row.
_REQUESTS = (
    func.unnest(
        bindparam("devices", type_=ARRAY(BigInteger)), bindparam("limits", type_=ARRAY(Integer))
    )
    .table_valued("device_pk", "lim")
    .render_derived(name="r")
)
_ROWS = (
    _unsent(_REQUESTS.c.device_pk, _NOT_IN_FLIGHT_POSTGRESQL).limit(_REQUESTS.c.lim).lateral("q")
)
_MANY_POSTGRESQL = Prepared(
    lambda: select(*_ROWS.c).select_from(_REQUESTS.join(_ROWS, true())),
    ["devices", "limits", "in_flight"],
)


def _read_one(conn: Connection, read: UnsentRead) -> list[QueuedMessage]:
    if conn.dialect.name == "postgresql":
        rows = _ONE_POSTGRESQL.execute(conn, [read.device_pk, list(read.in_flight), read.limit])
        return [QueuedMessage(*row) for row in rows]
    flight = padded(read.in_flight or (0,))  # no queue id is 0
    rows = _one_sqlite(len(flight)).execute(conn, [read.device_pk, *flight, read.limit, 0])
    return [QueuedMessage(*row) for row in rows]


def _read_many(conn: Connection, reads: Sequence[UnsentRead]) -> dict[int, list[QueuedMessage]]:
    """Reads of distinct devices, by device (PostgreSQL)."""
    devices = [read.device_pk for read in reads]
    limits = [read.limit for read in reads]
    in_flight = [id_ for read in reads for id_ in read.in_flight]
    found: dict[int, list[QueuedMessage]] = {device_pk: [] for device_pk in devices}
    for row in _MANY_POSTGRESQL.execute(conn, [devices, limits, in_flight]):
        message = QueuedMessage(*row)
        found[message.recipient_device_pk].append(message)
    for rows in found.values():
        rows.sort(key=lambda message: message.id)
    return found


def queued_message(row: Any) -> QueuedMessage:
    """A ``queued_messages`` row as the record handlers see."""
    return QueuedMessage(
        row.id,
        row.recipient_device_pk,
        row.sender,
        row.sender_device,
        row.message_id,
        row.type,
        row.body,
        row.server_ts,
        row.commitment,
        row.franking_tag,
    )
