"""Bring a database to the newest schema with Alembic, from inside the package.

Alembic is imported when a migration runs, not with this module: with it come
Mako, Pygments and every SQLAlchemy dialect Alembic supports, which a server node
would otherwise carry in its memory for its whole life (server.migration runs
the server's migrations in a child process for that reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


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
    """Run ``alembic upgrade head`` on the engine's database."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to_head)
