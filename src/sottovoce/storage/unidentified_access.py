"""Unidentified-access key digests: what lets a contact send an account sealed messages.

Only the SHA-256 digest of each account's access key is kept, so the table is of no
use for sending sealed messages to anyone. Built on the Repository's engine.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.schema import unidentified_access


async def set_digest(engine: AsyncEngine, account_id: int, digest: bytes) -> None:
    """Replace the account's digest. Two devices setting it at once: the second
    insert conflicts and is retried, so the last writer's digest stands."""
    for attempt in range(2):
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    delete(unidentified_access).where(
                        unidentified_access.c.account_id == account_id
                    )
                )
                await conn.execute(
                    insert(unidentified_access).values(account_id=account_id, key_digest=digest)
                )
            return
        except IntegrityError:
            if attempt:
                raise


async def digest_of(engine: AsyncEngine, account_id: int) -> bytes | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(unidentified_access.c.key_digest).where(
                    unidentified_access.c.account_id == account_id
                )
            )
        ).first()
    return None if row is None else bytes(row.key_digest)
