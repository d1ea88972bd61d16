"""Two key directories (two nodes) on one database: appends are serialised, and
recovering the same crash on both logs each account once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.server.settings import database_url
from sottovoce.server.transparency.directory import KeyDirectory
from sottovoce.storage.repository import Repository
from sottovoce.storage.transparency import TransparencyStore
from tests.support.services import PostgresCluster, RedisServer

ACCOUNTS = 30


@pytest.fixture(params=["sqlite", "postgresql"])
async def repos(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Repository, Repository]]:
    if request.param == "sqlite":
        url = database_url(str(tmp_path / "shared.db"))
    else:
        services: tuple[PostgresCluster, RedisServer] = request.getfixturevalue("running_services")
        url = services[0].create_database()
    first, second = Repository.connect(url), Repository.connect(url)
    await first.migrate()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _accounts(repo: Repository, prefix: str) -> list[int]:
    ids = []
    for i in range(ACCOUNTS):
        created = await repo.create_account(
            app="chat",
            handle=f"{prefix}{i}",
            account_key=bytes([i]) * 32,
            device_list=f"{prefix}{i}".encode(),
            device_list_version=1,
            identity=bytes(32),
            day=1,
        )
        ids.append(created.account_id)
    return ids


async def test_concurrent_appends_from_two_nodes_make_one_log(
    repos: tuple[Repository, Repository],
) -> None:
    first = await KeyDirectory.open(TransparencyStore(repos[0].engine), None)
    second = await KeyDirectory.open(TransparencyStore(repos[1].engine), None)
    ids = await _accounts(repos[0], "a")
    await asyncio.gather(
        *(
            (first if n % 2 else second).account_created(i, f"a{i}@chat", bytes(32), b"l", 1)
            for n, i in enumerate(ids)
        )
    )
    heads = [await first.latest_head(), await second.latest_head()]
    assert {first.size, second.size} == {2 * ACCOUNTS}
    assert first.leaves(0, 2 * ACCOUNTS) == second.leaves(0, 2 * ACCOUNTS)
    assert heads[0].to_bytes() == heads[1].to_bytes()  # one epoch, one head
    for directory in (first, second):
        for account_id in ids:
            proof = await directory.account_proof(account_id)
            for proven in (proof.account_key, proof.device_list):
                for head in heads:
                    head.verify_inclusion(proven.leaf, proven.proof)


async def test_two_nodes_recovering_one_crash_log_each_account_once(
    repos: tuple[Repository, Repository],
) -> None:
    # Accounts whose entries a crash kept from being written.
    await _accounts(repos[0], "c")
    first, second = await asyncio.gather(
        *(KeyDirectory.open(TransparencyStore(repo.engine), None) for repo in repos)
    )
    await first.catch_up()
    await second.catch_up()
    assert first.size == second.size == 2 * ACCOUNTS
    assert await TransparencyStore(repos[0].engine).unlogged_accounts() == []
