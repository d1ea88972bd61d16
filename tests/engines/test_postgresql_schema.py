"""The Alembic migrations on PostgreSQL: every head applies, twice, and builds
exactly the tables storage.schema declares (the SQLite check is in
tests/server/test_storage.py)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from sottovoce.storage.migrate import MIGRATIONS
from sottovoce.storage.repository import Repository
from sottovoce.storage.schema import metadata
from tests.support.device import BareDevice
from tests.support.services import PostgresCluster, RedisServer


def _config_for_heads() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def test_migrations_build_the_declared_schema_on_postgresql(
    running_services: tuple[PostgresCluster, RedisServer],
) -> None:
    postgres, _ = running_services
    repo = Repository.connect(postgres.create_database())
    try:
        await repo.migrate()
        await repo.migrate()  # every node start runs them again: a no-op
        async with repo.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
            heads = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert diff == []
        script = ScriptDirectory.from_config(_config_for_heads())
        assert sorted(v for (v,) in heads) == sorted(script.get_heads())
    finally:
        await repo.close()


async def test_device_ids_use_all_32_bits_on_postgresql(
    running_services: tuple[PostgresCluster, RedisServer],
) -> None:
    """Device ids are u32; PostgreSQL's INTEGER stops at 2**31 - 1 (migration 0009)."""
    postgres, _ = running_services
    repo = Repository.connect(postgres.create_database())
    try:
        await repo.migrate()
        device = BareDevice()
        await repo.create_account(
            app="chat",
            handle=device.handle,
            account_key=device.account_key.public,
            device_list=device.device_list(),
            device_list_version=1,
            identity=device.identity.to_bytes(),
            day=20_000,
        )
        assert await repo.device("chat", device.handle, 2**32 - 1) is None
    finally:
        await repo.close()
