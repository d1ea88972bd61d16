"""Unidentified-access key digests: what lets a contact send an account sealed messages.

Only the SHA-256 digest of each account's access key is kept, so the table is of no
use for sending sealed messages to anyone. Built on the Repository's engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.schema import unidentified_access


async def set_digest(engine: AsyncEngine, account_id: int, digest: bytes) -> None:
    """Replace the account's digest in one INSERT … ON CONFLICT DO UPDATE, so any
    number of the account's devices setting it at once never conflict: the last
    writer's digest stands. PostgreSQL's dialect is imported on a PostgreSQL node
    only (its engine has loaded it already)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            statement: Any = postgresql.insert(unidentified_access)
        else:
            statement = sqlite.insert(unidentified_access)
        statement = statement.values(account_id=account_id, key_digest=digest)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[unidentified_access.c.account_id],
                set_={"key_digest": statement.excluded.key_digest},
            )
        )


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
