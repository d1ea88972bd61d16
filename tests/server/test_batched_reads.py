"""Batched look-ups (storage.batched_reads): concurrent callers share a statement,
each gets its own answer, and nothing is cached, so a removed device, a changed
device list or a suspension is seen by the very next read. On SQLite, or
PostgreSQL with ``SOTTOVOCE_TEST_DB=postgresql``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, event, insert

from sottovoce.storage.repository import DeviceRecord, Envelope, Repository
from sottovoce.storage.safety import GOOD_STANDING, SUSPENDED, SafetyStore
from sottovoce.storage.schema import devices
from tests.support.device import BareDevice
from tests.support.repository import migrated_repository, new_device


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    async with migrated_repository(tmp_path) as repository:
        yield repository


def count_statements(repo: Repository) -> list[str]:
    statements: list[str] = []
    event.listen(
        repo.rounds_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )
    return statements


async def add_device(repo: Repository, owner: DeviceRecord, device_id: int) -> None:
    async with repo.engine.begin() as conn:
        await conn.execute(
            insert(devices).values(
                account_id=owner.account_id,
                device_id=device_id,
                identity=BareDevice().identity.to_bytes(),
                created_day=0,
                last_seen_day=0,
            )
        )


async def test_concurrent_lookups_share_statements_and_get_their_own_answers(
    repo: Repository,
) -> None:
    owners = [await new_device(repo, f"user{i}") for i in range(12)]
    await add_device(repo, owners[3], 2)
    statements = count_statements(repo)
    names = [("chat", f"user{i}") for i in range(12)] + [("chat", "nobody"), ("other", "user1")]
    found = await asyncio.gather(*(repo.account(app, handle) for app, handle in names))
    assert len(statements) < len(names) / 2
    for owner, account in zip(owners, found[:12], strict=True):
        assert account is not None
        assert (account.id, account.address) == (owner.account_id, owner.address)
        expected = [1, 2] if owner is owners[3] else [1]
        assert [d.device_id for d in account.devices] == expected
        assert all(d.account_id == owner.account_id for d in account.devices)
    assert found[12:] == [None, None]
    # Devices: each (address, device id) its own record, unknown ones None.
    keys = [("chat", f"user{i}", 1) for i in range(12)] + [
        ("chat", "user3", 2),
        ("chat", "user4", 2),
    ]
    records = await asyncio.gather(*(repo.device(*key) for key in keys))
    assert [r.pk for r in records[:12] if r is not None] == [o.pk for o in owners]
    assert records[12] is not None and records[12].device_id == 2
    assert records[12].account_id == owners[3].account_id
    assert records[13] is None


async def test_a_send_reads_both_accounts_in_one_statement(repo: Repository) -> None:
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    statements = count_statements(repo)
    recipient, own, missing = await repo.accounts(("chat", "bob"), ("chat", "alice"), ("x", "y"))
    assert len(statements) == 1
    assert recipient is not None and recipient.id == bob.account_id
    assert own is not None and own.id == alice.account_id
    assert missing is None


async def test_a_removed_device_is_gone_at_the_next_read(repo: Repository) -> None:
    alice = await new_device(repo, "alice")
    await add_device(repo, alice, 2)
    assert await repo.device("chat", "alice", 2) is not None
    async with repo.engine.begin() as conn:
        await conn.execute(
            delete(devices).where(
                (devices.c.account_id == alice.account_id) & (devices.c.device_id == 2)
            )
        )
    assert await repo.device("chat", "alice", 2) is None
    account = await repo.account("chat", "alice")
    assert account is not None and [d.device_id for d in account.devices] == [1]


async def test_standing_is_read_fresh_for_each_caller(repo: Repository) -> None:
    store = SafetyStore(repo.engine)
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    before = await asyncio.gather(store.standing(alice.account_id), store.standing(bob.account_id))
    assert before == [GOOD_STANDING, GOOD_STANDING]
    await store.act(
        alice.account_id, "suspend", actor="operator", reason="test", signals={}, now_ms=1
    )
    after = await asyncio.gather(store.standing(alice.account_id), store.standing(bob.account_id))
    assert after == [SUSPENDED, GOOD_STANDING]


async def test_first_contact_reads_blocks_and_minors_per_pair(repo: Repository) -> None:
    store = SafetyStore(repo.engine)
    alice, bob, carol = [await new_device(repo, h) for h in ("alice", "bob", "carol")]
    await store.set_minor(carol.account_id, True)
    await store.report_block(bob.account_id, alice.account_id, day=1)  # bob blocks alice
    pairs = [
        (alice.account_id, bob.account_id),
        (alice.account_id, carol.account_id),
        (carol.account_id, bob.account_id),
        (bob.account_id, alice.account_id),
        (999_999, bob.account_id),
    ]
    contacts = await asyncio.gather(*(store.first_contact(s, r) for s, r in pairs))
    assert [(c.blocked, c.sender_is_minor) if c else None for c in contacts] == [
        (True, False),
        (False, False),
        (False, True),
        (False, False),
        None,
    ]


async def test_sent_before_sees_queued_copies_and_receipts(repo: Repository) -> None:
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    stored = await repo.enqueue(
        sender=alice,
        message_id="m1",
        envelopes=[Envelope(bob.pk, "message", b"x")],
        server_ts=1,
        max_queue_depth=10,
    )
    assert stored is not None
    answers = await asyncio.gather(
        repo.sent_before(alice.pk, "m1"),
        repo.sent_before(alice.pk, "m2"),
        repo.sent_before(bob.pk, "m1"),
    )
    assert answers == [True, False, False]
