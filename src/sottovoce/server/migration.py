"""The server's schema migration, run in a short-lived child process.

Alembic brings Mako, Pygments and every SQLAlchemy dialect it supports (some 130
modules); once imported they stay in a process's memory, about 10 MiB of RSS a
node would carry for its whole life to do one thing at start-up. So a node runs
``python -m sottovoce.server.migration`` and waits for it to exit: the same
``Repository.migrate`` (``alembic upgrade head``) in a process that then ends.
The database URL goes to the child on its standard input, so a password in it
never appears in a process listing. A restart finds the database at the newest
schema already: one query in this process says so (storage.migrate.at_head), and
no child is started.
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from sottovoce.storage import migrate
from sottovoce.storage.repository import Repository


class MigrationFailed(RuntimeError):
    """The child process could not bring the database to the newest schema."""


async def _at_head(db_url: str) -> bool:
    engine = create_async_engine(db_url, poolclass=NullPool)
    try:
        return await migrate.at_head(engine)
    finally:
        await engine.dispose()


async def upgrade_in_child(db_url: str) -> None:
    """Bring the database to the newest schema: nothing to do when it is there, else
    the migrations in a child process, whose log lines go where the server's go."""
    if await _at_head(db_url):
        return
    # Arguments are this interpreter and a fixed module; the URL travels on stdin.
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sottovoce.server.migration", stdin=asyncio.subprocess.PIPE
    )
    await child.communicate(db_url.encode())
    if child.returncode != 0:
        raise MigrationFailed(f"database migration failed (exit status {child.returncode})")


async def _upgrade(db_url: str) -> None:
    repo = Repository.connect(db_url)
    try:
        await repo.migrate()
    finally:
        await repo.close()


def main() -> None:
    asyncio.run(_upgrade(sys.stdin.read()))


if __name__ == "__main__":
    main()
