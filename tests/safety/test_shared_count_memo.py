"""With Redis, a node asks the shared stranger count once per (sender, recipient)
a day: a further unsealed message to someone already counted reads no allowance
and runs no script (``abuse.controls``), while a new recipient still does."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from redis.asyncio import Redis

from sottovoce.server.abuse.controls import SafetyControls
from sottovoce.server.abuse.shared_counts import SharedDailyCounts
from sottovoce.server.settings import database_url
from sottovoce.server.shared_limits import deployment_namespace
from sottovoce.storage.repository import AccountRecord, DeviceRecord, Repository
from sottovoce.storage.safety import AccountFacts, SafetyStore
from tests.support import services


class CountedShared(SharedDailyCounts):
    """The real Redis counts, with the number of checks this node asked for."""

    asked = 0

    async def admit_recipient(
        self, day: int, account_id: int, recipient_id: int, allowed: int
    ) -> bool | None:
        self.asked += 1
        return await super().admit_recipient(day, account_id, recipient_id, allowed)


class CountedStore(SafetyStore):
    facts_read = 0

    async def facts(self, account_ids: Sequence[int]) -> dict[int, AccountFacts]:
        self.facts_read += 1
        return await super().facts(account_ids)


@pytest.fixture
async def controls(tmp_path: Path) -> AsyncIterator[tuple[SafetyControls, CountedStore]]:
    path = tmp_path / "node.db"
    services.migrated_sqlite(path)
    repo = Repository.connect(database_url(str(path)))
    client = Redis.from_url(services.redis().url)
    store = CountedStore(repo.engine)
    controls = SafetyControls(store, {})
    controls.shared = CountedShared(client, deployment_namespace(secrets.token_bytes(32)))
    try:
        yield controls, store
    finally:
        await client.aclose()
        await repo.close()


def sender(account_id: int) -> DeviceRecord:
    return DeviceRecord(account_id, account_id, 1, b"\x01" * 32, f"a{account_id}@chat")


def recipient(account_id: int) -> AccountRecord:
    return AccountRecord(account_id, "chat", f"a{account_id}", b"", b"", 1, 0, ())


async def test_a_counted_recipient_is_not_asked_for_again(
    controls: tuple[SafetyControls, CountedStore],
) -> None:
    safety, store = controls
    shared = safety.shared
    assert isinstance(shared, CountedShared)
    for _ in range(3):
        assert await safety.admit_unsealed(sender(1), recipient(7)) is True
    assert (shared.asked, store.facts_read) == (1, 1)
    assert await safety.admit_unsealed(sender(1), recipient(8)) is True
    assert (shared.asked, store.facts_read) == (2, 2)
    # Another sender's first message to the same recipient is its own count.
    assert await safety.admit_unsealed(sender(2), recipient(7)) is True
    assert shared.asked == 3
