"""The message queue's writes, sends and acknowledgements, one transaction a round.

A round (storage.rounds) is every send and acknowledgement that waited
while the previous round was being written. Each caller gets what it would have
got alone, in arrival order: a send stored before (queued, or within its
receipt's window, or earlier in the same round) is a duplicate (``None``) even
if the queues are full by now; a send to a device whose queue is at its bound
gets :class:`QueueFull`, counting the copies the round's earlier sends add (and
so does its repetition later in the round, which is no duplicate then); an
acknowledgement counts the rows it deleted. When the round's transaction fails
(a constraint one member broke, a deadlock), it is rolled back whole and every
member is written again alone, so only the member at fault sees the failure: a
send naming a device removed since its check read the account gets
:class:`RecipientGone` (nothing of it stored), one whose copy a concurrent retry
on another node stored meanwhile is a duplicate.
The round, retries included, is one synchronous function over the node's round
connection (storage.round_connection), its statements built once.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.base import Executable

from sottovoce.storage import receipts, round_connection
from sottovoce.storage.batched_reads import key_names, key_values, matching_any, padded
from sottovoce.storage.prepared import Prepared, chunks
from sottovoce.storage.queue_records import Envelope, QueuedMessage, QueueFull, RecipientGone
from sottovoce.storage.schema import queued_messages


@dataclass(frozen=True, slots=True)
class Enqueue:
    """One send: every envelope of one message, from one sender device (0 if sealed)."""

    sender_pk: int
    sender_address: str
    sender_device: int
    message_id: str
    envelopes: tuple[Envelope, ...]
    server_ts: int
    max_queue_depth: int

    @property
    def key(self) -> tuple[int, str]:
        """The idempotency key (schema: ``uq_queued_idempotency``)."""
        return (self.sender_pk, self.message_id)


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledgement: queue ids a device received."""

    device_pk: int
    ids: tuple[int, ...]


QueueWrite = Enqueue | Ack
Outcome = list[QueuedMessage] | None | int


async def write_round(
    engine: AsyncEngine, round_: Sequence[QueueWrite]
) -> list[Outcome | Exception]:
    """Write the round on ``engine``'s round connection, retries included: one
    hand-off (storage.round_connection)."""
    return await round_connection.for_engine(engine).run(serve_round, round_)


def serve_round(conn: Connection, round_: Sequence[QueueWrite]) -> list[Outcome | Exception]:
    """The round on ``conn``, no transaction open: one, or one a member if that fails."""
    if len(round_) > 1:
        try:
            return _write(conn, round_)
        except DBAPIError:
            pass  # rolled back whole: each member again alone, to fail alone
    return [_write_alone(conn, write) for write in round_]


# The constraint a send's insert broke, by the engine's own code for it: PostgreSQL's
# SQLSTATE (its manual, Appendix A, class 23) or SQLite's extended result code
# (sqlite.org/rescode.html), which Python's sqlite3 gives as ``sqlite_errorname``.
_FOREIGN_KEY_VIOLATED = frozenset({"23503", "SQLITE_CONSTRAINT_FOREIGNKEY"})
_UNIQUE_VIOLATED = frozenset({"23505", "SQLITE_CONSTRAINT_UNIQUE"})


def _write_alone(conn: Connection, write: QueueWrite) -> Outcome | Exception:
    try:
        return _write(conn, [write])[0]
    except IntegrityError as exc:
        if isinstance(write, Enqueue):
            violated = _violated(exc)
            # queued_messages.recipient_device_pk: a device the send names is gone.
            if violated in _FOREIGN_KEY_VIOLATED:
                return RecipientGone("a device this send names was removed meanwhile")
            # uq_queued_idempotency (the queue's one unique key besides its id): a
            # concurrent retry of this send, on another node, stored its copies.
            if violated in _UNIQUE_VIOLATED:
                return None
        return exc
    except Exception as exc:
        return exc


def _violated(exc: IntegrityError) -> str | None:
    """The driver's code for the constraint ``exc`` reports (asyncpg's SQLSTATE as
    SQLAlchemy's adapter keeps it, or sqlite3's error name)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "sqlite_errorname", None)
    return code if isinstance(code, str) else None


def _write(conn: Connection, round_: Sequence[QueueWrite]) -> list[Outcome | Exception]:
    outcomes: list[Outcome | Exception] = [None] * len(round_)
    acks = [(i, w) for i, w in enumerate(round_) if isinstance(w, Ack)]
    sends = [(i, w) for i, w in enumerate(round_) if isinstance(w, Enqueue)]
    with conn.begin():
        # Acknowledgements first: the room they make counts for this round's sends.
        if acks:
            _acknowledge(conn, acks, outcomes)
        if sends:
            _enqueue(conn, sends, outcomes)
    return outcomes


# Queue ids one acknowledgement statement deletes at most (two bound values each);
# a round's larger acknowledgements take several. Each shape is built and rendered
# once per node, at tens of µs of CPU a bound value (docs/performance.md, session
# 7: 9.6 ms for 128 pairs, 78 ms for 1,024), in the first rounds a fresh node
# serves; capped here, a huge round costs a few more statements of ~10 µs instead.
ACK_PAIRS_PER_STATEMENT = 128


@functools.cache
def _deleting(pairs: int) -> Prepared:
    """Delete ``pairs`` (device, queue id) rows: one term a row, each bound value a
    parameter of its own, so the statement is rendered once (storage.prepared; an
    expanding ``IN`` list is re-rendered every execution) and SQLite finds each row
    by its id (batched_reads.matching_any)."""
    return Prepared(
        lambda: (
            delete(queued_messages)
            .where(
                matching_any((queued_messages.c.recipient_device_pk, queued_messages.c.id), pairs)
            )
            .returning(queued_messages.c.recipient_device_pk, queued_messages.c.id)
        ),
        key_names(pairs, 2),
    )


def _acknowledge(
    conn: Connection, acks: list[tuple[int, Ack]], outcomes: list[Outcome | Exception]
) -> None:
    pairs = list(dict.fromkeys((a.device_pk, id_) for _, a in acks for id_ in a.ids))
    deleted: set[tuple[int, int]] = set()
    for start in range(0, len(pairs), ACK_PAIRS_PER_STATEMENT):
        terms = padded(pairs[start : start + ACK_PAIRS_PER_STATEMENT])
        result = _deleting(len(terms)).execute(conn, key_values(terms))
        deleted.update((int(device), int(id_)) for device, id_ in result)
    for i, ack in acks:  # a row two acks named counts for the first
        mine = {(ack.device_pk, id_) for id_ in ack.ids} & deleted
        deleted -= mine
        outcomes[i] = len(mine)


def _enqueue(
    conn: Connection, sends: list[tuple[int, Enqueue]], outcomes: list[Outcome | Exception]
) -> None:
    queued, depth = _queue_state(conn, sends)
    first: list[tuple[int, Enqueue]] = []
    # A send repeated later in the round (a retry that caught up with its first
    # attempt) gets that attempt's answer: a duplicate once it is stored, the same
    # refusal if it is not (a duplicate then would say stored what never was).
    firsts: dict[tuple[int, str], int] = {}
    repeats: list[tuple[int, int]] = []
    for i, send in sends:
        if send.key in queued:
            outcomes[i] = None  # still queued: a retry
        elif send.key in firsts:
            repeats.append((i, firsts[send.key]))
        else:
            firsts[send.key] = i
            first.append((i, send))
    if first:
        _admit(conn, first, depth, outcomes)
    for i, earlier in repeats:
        refusal = outcomes[earlier]
        outcomes[i] = QueueFull(str(refusal)) if isinstance(refusal, QueueFull) else None


def _admit(
    conn: Connection,
    sends: list[tuple[int, Enqueue]],
    depth: dict[int, int],
    outcomes: list[Outcome | Exception],
) -> None:
    """Record the receipts of the round's first attempts and store those that are
    new and fit their recipients' queues."""
    recorded = receipts.record_many(
        conn, [(s.sender_pk, s.message_id, s.server_ts) for _, s in sends]
    )
    admitted: list[tuple[int, Enqueue]] = []
    refused: list[tuple[int, str]] = []
    for i, send in sends:
        if receipts.digest(*send.key) not in recorded:
            outcomes[i] = None  # accepted before, within the receipt window
            continue
        targets = [e.recipient_device_pk for e in send.envelopes]
        if any(depth.get(pk, 0) >= send.max_queue_depth for pk in targets):
            outcomes[i] = QueueFull(f"a recipient device holds {send.max_queue_depth} messages")
            refused.append(send.key)
            continue
        for pk in targets:  # the round's earlier sends count towards the bound
            depth[pk] = depth.get(pk, 0) + 1
        admitted.append((i, send))
    if refused:  # not accepted after all: a retry must be stored
        receipts.forget(conn, refused)
    if admitted:
        _insert(conn, admitted, outcomes)


@functools.cache
def _state_of(keys: int, recipients: int) -> Prepared:
    """Which of ``keys`` idempotency keys have a queued copy, and how many messages
    each of ``recipients`` devices holds. Every value is a parameter of its own (no
    expanding ``IN``), so each shape is rendered once (storage.prepared)."""

    def statement() -> Executable:
        copies = (
            select(
                queued_messages.c.sender_device_pk,
                queued_messages.c.message_id,
                cast(null(), Integer).label("recipient"),
                cast(null(), Integer).label("depth"),
            )
            .where(
                matching_any(
                    (queued_messages.c.sender_device_pk, queued_messages.c.message_id), keys
                )
            )
            .distinct()
        )
        depths = (
            select(
                cast(null(), Integer),
                cast(null(), String),
                queued_messages.c.recipient_device_pk,
                func.count(),
            )
            .where(
                queued_messages.c.recipient_device_pk.in_(
                    [bindparam(f"recipient{i}", type_=Integer) for i in range(recipients)]
                )
            )
            .group_by(queued_messages.c.recipient_device_pk)
        )
        return union_all(copies, depths)

    return Prepared(
        statement,
        [*key_names(keys, 2), *(f"recipient{i}" for i in range(recipients))],
    )


def _queue_state(
    conn: Connection, sends: list[tuple[int, Enqueue]]
) -> tuple[set[tuple[int, str]], dict[int, int]]:
    """Which of the round's idempotency keys have a queued copy, and how many
    messages each recipient device holds: one statement for both."""
    keys = padded(list(dict.fromkeys(s.key for _, s in sends)))
    recipients = padded(list({e.recipient_device_pk for _, s in sends for e in s.envelopes}))
    queued: set[tuple[int, str]] = set()
    depth: dict[int, int] = {}
    for sender_pk, message_id, recipient, n in _state_of(len(keys), len(recipients)).execute(
        conn, [*key_values(keys), *recipients]
    ):
        if recipient is None:
            queued.add((int(sender_pk), str(message_id)))
        else:
            depth[int(recipient)] = int(n)
    return queued, depth


# The columns a queued copy is inserted with (all but its id): the recipient, the
# sender device's row id, then QueuedMessage's other fields, which are the table's
# in its order (the order of the rendered statement's parameters: Prepared checks it).
_COPY_COLUMNS = [
    queued_messages.c.recipient_device_pk,
    queued_messages.c.sender_device_pk,
    *(queued_messages.c[f.name] for f in dataclasses.fields(QueuedMessage)[2:]),
]
# Copies one insert statement takes at most (ten bound values each); a round's rows
# go in pieces of a few sizes (prepared.chunks). A round of single-copy sends
# (storage.rounds.MAX_BATCH) fits one; a larger shape would cost more to render once
# (as ACK_PAIRS_PER_STATEMENT) than its pieces cost to run.
COPIES_PER_STATEMENT = 128


@functools.cache
def _inserting(copies: int) -> Prepared:
    """Insert ``copies`` rows, returning each one's queue id with the row's unique
    key (``uq_queued_idempotency``): the ids are matched to the rows by key, as
    ``RETURNING`` promises no order."""
    q = queued_messages.c
    return Prepared(
        lambda: (
            insert(queued_messages)
            .values(
                [
                    {c.name: bindparam(f"{c.name}{i}", type_=c.type) for c in _COPY_COLUMNS}
                    for i in range(copies)
                ]
            )
            .returning(q.id, q.sender_device_pk, q.message_id, q.recipient_device_pk)
        ),
        [f"{c.name}{i}" for i in range(copies) for c in _COPY_COLUMNS],
    )


def _insert(
    conn: Connection, sends: list[tuple[int, Enqueue]], outcomes: list[Outcome | Exception]
) -> None:
    # Each send's copies as QueuedMessage's fields after the id (_COPY_COLUMNS but
    # the sender device's row id, which follows the first).
    copies = [
        [
            (
                e.recipient_device_pk,
                s.sender_address,
                s.sender_device,
                s.message_id,
                e.type,
                e.body,
                s.server_ts,
                e.commitment,
                e.franking_tag,
            )
            for e in s.envelopes
        ]
        for _, s in sends
    ]
    rows = [
        (copy[0], s.sender_pk, *copy[1:])
        for (_, s), send_copies in zip(sends, copies, strict=True)
        for copy in send_copies
    ]
    ids: dict[tuple[int, str, int], int] = {}
    for start, size in chunks(len(rows), COPIES_PER_STATEMENT):
        result = _inserting(size).execute(conn, key_values(rows[start : start + size]))
        ids.update(((int(s), str(m), int(r)), int(id_)) for id_, s, m, r in result)
    for (i, s), send_copies in zip(sends, copies, strict=True):
        outcomes[i] = [
            QueuedMessage(ids[(s.sender_pk, s.message_id, copy[0])], *copy) for copy in send_copies
        ]
