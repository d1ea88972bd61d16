"""The server's own delivery keys (sender-certificate signing, franking MAC), in the
database so every node of a deployment shares them. Built on the Repository's engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.schema import delivery_keys


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: int
    secret: bytes

    def __repr__(self) -> str:
        return f"StoredKey(key_id={self.key_id})"


async def load_or_create(
    engine: AsyncEngine, purpose: str, generate: Callable[[], bytes]
) -> StoredKey:
    """The key for ``purpose``; the first node to ask creates it. Two nodes racing
    both insert; the loser's insert fails and it reads the winner's key."""
    for _ in range(2):
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(delivery_keys.c.key_id, delivery_keys.c.secret).where(
                        delivery_keys.c.purpose == purpose
                    )
                )
            ).first()
        if row is not None:
            return StoredKey(int(row.key_id), bytes(row.secret))
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    insert(delivery_keys).values(purpose=purpose, key_id=1, secret=generate())
                )
        except IntegrityError:
            continue
    raise RuntimeError(f"the {purpose} key could be neither read nor created")
