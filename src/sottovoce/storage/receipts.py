"""Send receipts: idempotency for a retry that arrives after acknowledgement.

While a message is queued its ``(sender device, message id)`` rows answer a
retry; once every copy is acknowledged they are gone, and a late retry (an answer
lost just before the recipient collected the copies) would be stored and delivered
again. A receipt keeps the fact "this key was accepted" for a bounded window,
under a digest that names neither the sender nor the message (schema.py).
"""

from __future__ import annotations

import hashlib
import struct

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sottovoce.storage.schema import send_receipts

# How long a retry is still recognised after the send. The SDK retries a send for
# about 8 s (client.client.POST_ATTEMPTS); a day covers a device that lost the
# answer, slept, and retries with the same id on waking, with room to spare.
RECEIPT_HOURS = 24
MS_PER_HOUR = 3_600_000
_DOMAIN = b"sottovoce send receipt v1\x00"


def digest(sender_device_pk: int, message_id: str) -> bytes:
    return hashlib.sha256(
        _DOMAIN + struct.pack(">Q", sender_device_pk) + message_id.encode()
    ).digest()


async def record(
    conn: AsyncConnection, sender_device_pk: int, message_id: str, now_ms: int
) -> bool:
    """Insert the receipt inside the enqueue's transaction; False if it exists, which
    makes this send a retry. Two concurrent first attempts serialise on the primary
    key: the second waits for the first to commit (then sees it) or roll back."""
    values = {
        "digest": digest(sender_device_pk, message_id),
        "expires_hour": now_ms // MS_PER_HOUR + RECEIPT_HOURS,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(
        dialect.insert(send_receipts).values(values).on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def exists(conn: AsyncConnection, sender_device_pk: int, message_id: str) -> bool:
    row = await conn.execute(
        select(send_receipts.c.expires_hour).where(
            send_receipts.c.digest == digest(sender_device_pk, message_id)
        )
    )
    return row.first() is not None


async def expire(engine: AsyncEngine, now_ms: int) -> int:
    """Drop receipts past their window (the retention sweep)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(send_receipts).where(send_receipts.c.expires_hour <= now_ms // MS_PER_HOUR)
        )
        return int(result.rowcount or 0)
