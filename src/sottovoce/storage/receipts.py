"""Send receipts: idempotency for a retry that arrives after acknowledgement.

While a message is queued its ``(sender device, message id)`` rows answer a
retry; once every copy is acknowledged they are gone, and a late retry (an answer
lost just before the recipient collected the copies) would be stored and delivered
again. A receipt keeps the fact "this key was accepted" for a bounded window,
under a digest that names neither the sender nor the message (schema.py).
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.prepared import Prepared, chunks
from sottovoce.storage.schema import send_receipts

# How long a retry is still recognised after the send. The SDK retries a send for
# about 8 s (client.outgoing.POST_ATTEMPTS); a day covers a device that lost the
# answer, slept, and retries with the same id on waking, with room to spare.
RECEIPT_HOURS = 24
MS_PER_HOUR = 3_600_000
_DOMAIN = b"sottovoce send receipt v1\x00"


# Receipts one insert statement takes at most: a round's (storage.rounds.MAX_BATCH
# sends) in one, in pieces of a few sizes (prepared.chunks).
RECEIPTS_PER_STATEMENT = 128


@functools.cache
def _recording(dialect: str, receipts: int) -> Prepared:
    """The engine's own INSERT … ON CONFLICT DO NOTHING RETURNING of ``receipts``
    rows, rendered once (storage.prepared). PostgreSQL's is imported on a PostgreSQL
    node only (its engine has loaded it already): its ~20 modules would otherwise
    sit in every SQLite node's memory."""

    def statement() -> Any:
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            inserting: Any = postgresql.insert(send_receipts)
        else:
            inserting = sqlite.insert(send_receipts)
        c = send_receipts.c
        rows = [
            {
                "digest": bindparam(f"digest{i}", type_=c.digest.type),
                "expires_hour": bindparam(f"expires_hour{i}", type_=c.expires_hour.type),
            }
            for i in range(receipts)
        ]
        return inserting.values(rows).on_conflict_do_nothing().returning(c.digest)

    return Prepared(
        statement,
        [name for i in range(receipts) for name in (f"digest{i}", f"expires_hour{i}")],
    )


_FORGETTING = delete(send_receipts).where(
    send_receipts.c.digest.in_(bindparam("digests", expanding=True))
)


def digest(sender_device_pk: int, message_id: str) -> bytes:
    return hashlib.sha256(
        _DOMAIN + struct.pack(">Q", sender_device_pk) + message_id.encode()
    ).digest()


def record_many(conn: Connection, sends: Sequence[tuple[int, str, int]]) -> set[bytes]:
    """Insert the receipts of a round of sends ``(sender device, message id, now_ms)``
    inside its transaction (storage.queue_writes); returns the digests inserted (the
    others existed: retries). Two concurrent first attempts serialise on the primary
    key: the second waits for the first to commit (then sees it) or roll back. Rows
    go in digest order, so two nodes' rounds take the keys' locks in one order and
    cannot deadlock on PostgreSQL."""
    rows = sorted(
        (digest(sender_device_pk, message_id), now_ms // MS_PER_HOUR + RECEIPT_HOURS)
        for sender_device_pk, message_id, now_ms in sends
    )
    inserted: set[bytes] = set()
    for start, size in chunks(len(rows), RECEIPTS_PER_STATEMENT):
        statement = _recording(conn.dialect.name, size)
        result = statement.execute(conn, [v for row in rows[start : start + size] for v in row])
        inserted.update(bytes(row[0]) for row in result)
    return inserted


def forget(conn: Connection, keys: Sequence[tuple[int, str]]) -> None:
    """Withdraw receipts recorded in this transaction for sends it did not store."""
    conn.execute(_FORGETTING, {"digests": [digest(*k) for k in keys]})


async def expire(engine: AsyncEngine, now_ms: int) -> int:
    """Drop receipts past their window (the retention sweep)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(send_receipts).where(send_receipts.c.expires_hour <= now_ms // MS_PER_HOUR)
        )
        return int(result.rowcount or 0)
