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

from sottovoce.storage.schema import send_receipts

# How long a retry is still recognised after the send. The SDK retries a send for
# about 8 s (client.client.POST_ATTEMPTS); a day covers a device that lost the
# answer, slept, and retries with the same id on waking, with room to spare.
RECEIPT_HOURS = 24
MS_PER_HOUR = 3_600_000
_DOMAIN = b"sottovoce send receipt v1\x00"


@functools.cache
def _recording(dialect: str) -> Any:
    """The engine's own INSERT … ON CONFLICT DO NOTHING RETURNING into the receipts,
    built once. PostgreSQL's is imported on a PostgreSQL node only (its engine has
    loaded it already): its ~20 modules would otherwise sit in every SQLite node's
    memory."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement: Any = postgresql.insert(send_receipts).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(send_receipts).on_conflict_do_nothing()
    return statement.returning(send_receipts.c.digest)


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
    values = [{"digest": d, "expires_hour": hour} for d, hour in rows]
    result = conn.execute(_recording(conn.dialect.name), values)
    return {bytes(row[0]) for row in result}


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
