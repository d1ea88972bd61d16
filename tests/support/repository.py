"""A migrated Repository on the suite's engine and accounts in it, for storage tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sottovoce.storage.repository import DeviceRecord, Repository
from tests.support import services
from tests.support.device import BareDevice


@asynccontextmanager
async def migrated_repository(directory: Path) -> AsyncIterator[Repository]:
    """SQLite in ``directory``, or the suite's PostgreSQL (SOTTOVOCE_TEST_DB)."""
    repository = Repository.connect(services.test_database_url(directory / "store.db"))
    await repository.migrate()
    try:
        yield repository
    finally:
        await repository.close()


async def new_device(repo: Repository, handle: str) -> DeviceRecord:
    """A new account on app ``chat`` with one device."""
    device = BareDevice(handle)
    return await repo.create_account(
        app="chat",
        handle=handle,
        account_key=device.account_key.public,
        device_list=device.device_list(),
        device_list_version=1,
        identity=device.identity.to_bytes(),
        day=20_000,
    )


async def placeholder_device(repo: Repository) -> DeviceRecord:
    """A new account with one device whose keys are random bytes: for storage
    tests that never verify a signature (no key generation a device)."""
    return await repo.create_account(
        app="chat",
        handle=secrets.token_hex(6),
        account_key=secrets.token_bytes(32),
        device_list=b"list",
        device_list_version=1,
        identity=secrets.token_bytes(32),
        day=1,
    )
