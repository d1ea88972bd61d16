"""What a test reads from a live server's database, on either engine.

Tests that check what the server stored (no sender named on a sealed row, the
ciphertext only) read its tables as an operator holding the database could.
Through SQLAlchemy on the server's own URL, that is the SQLite file or the
PostgreSQL database the run selected, so these tests run on both engines.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from sottovoce.server.process import ServerProcess
from sottovoce.server.settings import database_url


def server_url(server: ServerProcess) -> str:
    return server.db_url or database_url(str(server.db_path))


async def _read(url: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def rows(server: ServerProcess, sql: str, **params: Any) -> list[dict[str, Any]]:
    """The rows ``sql`` (``:name`` parameters) selects from the server's database.

    Synchronous, for use in the middle of an async test: the query runs on its own
    event loop in a worker thread (the server is another process, so blocking the
    test's loop meanwhile holds nothing up)."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(asyncio.run, _read(server_url(server), sql, params)).result()
