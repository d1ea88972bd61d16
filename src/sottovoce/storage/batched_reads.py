"""Look-ups that concurrent requests share: one statement a round (storage.rounds).

Every send reads the same few things (the recipient's and the sender's own
accounts, the sender's standing, whether it was sent before); while one such
statement runs, the next callers' keys wait and go together in the next one, as
``WHERE key IN (...)``. Nothing is cached: each answer is read after its caller
asked, so it is as fresh as a statement of its own would have been.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sottovoce.storage.rounds import Rounds

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


def matching_any(
    columns: Sequence[ColumnElement[Any]], keys: Sequence[Sequence[object]]
) -> ColumnElement[bool]:
    """``(a = ? AND b = ?) OR …``, one term a key. Not the row value ``(a, b) IN
    (VALUES …)``: SQLite scans the whole table for that, while for this it searches
    the index once a key (EXPLAIN QUERY PLAN: MULTI-INDEX OR)."""
    return or_(*(and_(*(c == v for c, v in zip(columns, key, strict=True))) for key in keys))


ReadMany = Callable[[AsyncConnection, Sequence[Key]], Awaitable[Mapping[Key, Value]]]


class BatchedReads(Generic[Key, Value]):
    """``get(key)``: ``read`` answers many distinct keys at once; a key it does not
    return gets ``missing``."""

    def __init__(self, engine: AsyncEngine, read: ReadMany[Key, Value], missing: Value) -> None:
        self._engine = engine
        self._read = read
        self._missing = missing
        self._rounds: Rounds[Key, Value] = Rounds(self._read_round)

    async def get(self, key: Key) -> Value:
        return await self._rounds.submit(key)

    async def get_all(self, keys: Sequence[Key]) -> list[Value]:
        """Several keys in the same statement."""
        return await self._rounds.submit_all(keys)

    async def _read_round(self, keys: Sequence[Key]) -> list[Value | Exception]:
        async with self._engine.connect() as conn:
            found = await self._read(conn, list(dict.fromkeys(keys)))
        return [found.get(key, self._missing) for key in keys]
