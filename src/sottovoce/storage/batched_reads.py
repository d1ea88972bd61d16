"""Look-ups that concurrent requests share: one statement a round (storage.rounds).

Every send reads the same few things (the recipient's and the sender's own
accounts, the sender's standing, whether it was sent before); while one such
statement runs, the next callers' keys wait and go together in the next one, as
``WHERE key IN (...)``. Nothing is cached: each answer is read after its caller
asked, so it is as fresh as a statement of its own would have been. A round's
read is a plain function over a synchronous connection, run with one hand-off
(storage.round_connection).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Connection, and_, bindparam, or_
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage import round_connection
from sottovoce.storage.rounds import Rounds

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")
Item = TypeVar("Item")


def padded(keys: Sequence[Item]) -> list[Item]:
    """``keys``, the last one repeated up to the next power of two: a round's
    statement then takes one of a few shapes (1, 2, 4 … MAX_BATCH terms), each built
    and compiled once (:func:`matching_any`) instead of once a round."""
    size = 1 << (len(keys) - 1).bit_length()
    return [*keys, *itertools.repeat(keys[-1], size - len(keys))]


def matching_any(
    columns: Sequence[ColumnElement[Any]], size: int, name: str = "key"
) -> ColumnElement[bool]:
    """``(a = :key0_0 AND b = :key0_1) OR …``, ``size`` terms, bound by
    :func:`key_params`. Not the row value ``(a, b) IN (VALUES …)``: SQLite scans the
    whole table for that, while for this it searches the index once a key (EXPLAIN
    QUERY PLAN: MULTI-INDEX OR)."""
    return or_(
        *(
            and_(*(c == bindparam(f"{name}{i}_{j}") for j, c in enumerate(columns)))
            for i in range(size)
        )
    )


def key_params(keys: Sequence[Sequence[object]], name: str = "key") -> dict[str, object]:
    """The values of :func:`matching_any`'s terms, one key a term."""
    return {f"{name}{i}_{j}": value for i, key in enumerate(keys) for j, value in enumerate(key)}


def key_names(size: int, width: int, name: str = "key") -> list[str]:
    """The names of :func:`matching_any`'s parameters in the order of its text: the
    ``names`` of a storage.prepared statement, whose values are :func:`key_values`."""
    return [f"{name}{i}_{j}" for i in range(size) for j in range(width)]


def key_values(keys: Sequence[Sequence[object]]) -> list[object]:
    """The values of :func:`matching_any`'s terms, in the order of :func:`key_names`."""
    return [value for key in keys for value in key]


ReadMany = Callable[[Connection, Sequence[Key]], Mapping[Key, Value]]


class BatchedReads(Generic[Key, Value]):
    """``get(key)``: ``read`` answers many distinct keys at once; a key it does not
    return gets ``missing``."""

    def __init__(self, engine: AsyncEngine, read: ReadMany[Key, Value], missing: Value) -> None:
        self._connection = round_connection.for_engine(engine)
        self._read = read
        self._missing = missing
        self._rounds: Rounds[Key, Value] = Rounds(self._read_round)

    async def get(self, key: Key) -> Value:
        return await self._rounds.submit(key)

    async def get_all(self, keys: Sequence[Key]) -> list[Value]:
        """Several keys in the same statement."""
        return await self._rounds.submit_all(keys)

    async def _read_round(self, keys: Sequence[Key]) -> list[Value | Exception]:
        return await self._connection.read(self._read_all, keys)

    def _read_all(self, conn: Connection, keys: Sequence[Key]) -> list[Value | Exception]:
        try:
            found = self._read(conn, list(dict.fromkeys(keys)))
        finally:
            conn.rollback()  # ends the read's snapshot; nothing to commit
        return [found.get(key, self._missing) for key in keys]
