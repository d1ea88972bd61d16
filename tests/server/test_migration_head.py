"""A node migrates only a database that is behind (server/migration.py).

Every start used to run ``alembic upgrade head`` in a child process, ~0.6 s of CPU
even when there was nothing to do. Now one query of ``alembic_version`` against the
heads read from the migration files decides; these tests check that decision on an
empty database, one a revision behind and one at the newest schema, on the engine
the run selects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from sottovoce.server import migration
from sottovoce.server.settings import database_url
from sottovoce.storage import migrate
from sottovoce.storage.migrate import MIGRATIONS, at_head, head_revisions
from tests.support import services


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@pytest.fixture
def empty_url(tmp_path: Path) -> str:
    """A database with no tables on the selected engine."""
    if services.selected_engine() == "postgresql":
        return services.postgres().create_database()
    return database_url(str(tmp_path / "node.db"))


@pytest.fixture
async def engine(empty_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_async_engine(empty_url, poolclass=NullPool)
    try:
        yield made
    finally:
        await made.dispose()


async def _versions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


def test_the_heads_read_from_the_files_are_alembics() -> None:
    assert head_revisions() == set(ScriptDirectory.from_config(_alembic_config()).get_heads())


async def test_an_empty_database_is_behind_and_gets_migrated(
    empty_url: str, engine: AsyncEngine
) -> None:
    assert not await at_head(engine)
    await migration.upgrade_in_child(empty_url)
    assert await at_head(engine)
    assert await _versions(engine) == head_revisions()


async def test_a_database_one_revision_behind_is_brought_to_the_newest(
    empty_url: str, engine: AsyncEngine
) -> None:
    (head,) = head_revisions()
    previous = ScriptDirectory.from_config(_alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), previous))
    assert await _versions(engine) == {previous}
    assert not await at_head(engine)
    await migration.upgrade_in_child(empty_url)
    assert await _versions(engine) == {head}


async def test_a_database_at_the_newest_schema_starts_no_child(
    empty_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate.upgrade(engine)

    async def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a migration child was started for a database at head")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_child)
    await migration.upgrade_in_child(empty_url)
    await migrate.upgrade(engine)  # the in-process path also stops at the check
    assert await _versions(engine) == head_revisions()
