"""Bring a database to the newest schema with Alembic, from inside the package.

Alembic is imported when a migration runs, not with this module: with it come
Mako, Pygments and every SQLAlchemy dialect Alembic supports, which a server node
would otherwise carry in its memory for its whole life (server.migration runs
the server's migrations in a child process for that reason). A database already
at the newest schema (every restart) is recognised without Alembic: one query of
its ``alembic_version`` table against the heads read from the migration files.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"


def _assigned(module: ast.Module, name: str) -> object:
    for statement in module.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            named = any(isinstance(t, ast.Name) and t.id == name for t in targets)
            if named and statement.value is not None:
                return ast.literal_eval(statement.value)
    raise ValueError(f"a migration file assigns no {name}")


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions no other migration builds on: what ``alembic upgrade head``
    leaves in ``alembic_version``. Read from each version file's ``revision`` and
    ``down_revision`` literals (a tuple for a merge) without importing it."""
    revisions: set[str] = set()
    built_on: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        module = ast.parse(path.read_text(), str(path))
        revision = _assigned(module, "revision")
        down = _assigned(module, "down_revision")
        if not isinstance(revision, str):
            raise ValueError(f"{path.name}: revision is not a string")
        revisions.add(revision)
        if isinstance(down, str):
            built_on.add(down)
        elif isinstance(down, tuple | list):
            built_on.update(str(d) for d in down)
    return frozenset(revisions - built_on)


async def at_head(engine: AsyncEngine) -> bool:
    """Whether the database's schema is the newest. False for a new database (no
    ``alembic_version`` table) and for one that cannot be read: the migration that
    follows then creates it, or reports why it cannot."""
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            current = frozenset(rows.scalars())
    except (DBAPIError, OSError):
        return False
    return current == head_revisions()


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_config(connection), "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Run ``alembic upgrade head`` on the engine's database, unless it is there."""
    if await at_head(engine):
        return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to_head)
