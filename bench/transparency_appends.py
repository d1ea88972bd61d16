"""Stored appends to the key-transparency log: what account creation pays for it.

Run ``python bench/transparency_appends.py [--postgres]``. Each figure is one JSON
object per line. ``KeyDirectory.account_created`` (an account's key entry and
first device-list entry in one transaction, serialised with every other node's
appends by the database; storage/transparency.py) is timed for ``ACCOUNTS``
accounts, first one after another (``stored_append_per_s``), then ``CONCURRENT``
at a time from two directories on one database, as two server nodes would
(``stored_append_two_nodes_per_s``). The account rows are made untimed. SQLite by
default (a file in a temporary directory); ``--postgres`` starts a throwaway
PostgreSQL cluster with the tests' tooling.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from sottovoce.server.transparency.directory import KeyDirectory
from sottovoce.storage.repository import Repository
from sottovoce.storage.transparency import TransparencyStore

ACCOUNTS = 400
CONCURRENT = 16


def emit(metric: str, value: float, unit: str, engine: str) -> None:
    row = {
        "bench": "transparency",
        "metric": metric,
        "value": round(value, 1),
        "unit": unit,
        "impl": "sottovoce",
        "engine": engine,
    }
    print(json.dumps(row), flush=True)


async def make_accounts(repo: Repository, prefix: str) -> list[int]:
    ids = []
    for i in range(ACCOUNTS):
        created = await repo.create_account(
            app="chat",
            handle=f"{prefix}{i}",
            account_key=bytes(32),
            device_list=f"list {prefix}{i}".encode(),
            device_list_version=1,
            identity=bytes(32),
            day=1,
        )
        ids.append(created.account_id)
    return ids


async def run(url: str, engine: str) -> None:
    repo = Repository.connect(url)
    other = Repository.connect(url)
    try:
        await repo.migrate()
        first = await KeyDirectory.open(TransparencyStore(repo.engine), None)
        second = await KeyDirectory.open(TransparencyStore(other.engine), None)

        ids = await make_accounts(repo, "s")
        started = time.perf_counter()
        for account_id in ids:
            await first.account_created(account_id, f"s{account_id}@chat", bytes(32), b"l", 1)
        emit("stored_append_per_s", ACCOUNTS / (time.perf_counter() - started), "acct/s", engine)

        ids = await make_accounts(repo, "c")
        gate = asyncio.Semaphore(CONCURRENT)

        async def create(n: int, account_id: int) -> None:
            async with gate:
                node = first if n % 2 else second
                await node.account_created(account_id, f"c{account_id}@chat", bytes(32), b"l", 1)

        started = time.perf_counter()
        await asyncio.gather(*(create(n, account_id) for n, account_id in enumerate(ids)))
        elapsed = time.perf_counter() - started
        emit("stored_append_two_nodes_per_s", ACCOUNTS / elapsed, "acct/s", engine)
        await first.catch_up()
        await second.catch_up()
        assert first.size == second.size == 4 * ACCOUNTS
    finally:
        await repo.close()
        await other.close()


def main() -> None:
    if "--postgres" in sys.argv[1:]:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.support.services import PostgresCluster

        cluster = PostgresCluster()
        cluster.init()
        cluster.start()
        try:
            asyncio.run(run(cluster.create_database(), "postgresql"))
        finally:
            cluster.remove()
        return
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        asyncio.run(run(url, "sqlite"))


if __name__ == "__main__":
    main()
