"""Group commit (storage.rounds, storage.queue_writes): concurrent sends and
acknowledgements share transactions, and each caller still gets exactly its own
answer: stored rows, ``None`` for a retry, :class:`QueueFull` for its recipient.
On SQLite, or PostgreSQL with ``SOTTOVOCE_TEST_DB=postgresql``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from sottovoce.storage import queue_writes
from sottovoce.storage.repository import (
    DeviceRecord,
    Envelope,
    QueueFull,
    RecipientGone,
    Repository,
)
from sottovoce.storage.schema import queued_messages, send_receipts
from tests.support.repository import migrated_repository, new_device


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    async with migrated_repository(tmp_path) as repository:
        yield repository


def count_transactions(repo: Repository) -> list[int]:
    """A list that grows by one for every transaction committed from now on."""
    commits: list[int] = []
    event.listen(repo.rounds_engine, "commit", lambda _conn: commits.append(1))
    return commits


async def send(
    repo: Repository,
    sender: DeviceRecord,
    message_id: str,
    *recipients: DeviceRecord,
    depth: int = 1000,
) -> list[object] | None:
    stored = await repo.enqueue(
        sender=sender,
        message_id=message_id,
        envelopes=[Envelope(r.pk, "message", f"{message_id}>{r.pk}".encode()) for r in recipients],
        server_ts=1_000,
        max_queue_depth=depth,
    )
    return None if stored is None else list(stored)


async def queued_bodies(repo: Repository) -> list[bytes]:
    async with repo.engine.connect() as conn:
        return [r[0] for r in await conn.execute(select(queued_messages.c.body))]


async def test_many_concurrent_senders_each_get_their_own_rows(repo: Repository) -> None:
    senders = [await new_device(repo, f"sender{i}") for i in range(20)]
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    commits = count_transactions(repo)
    results = await asyncio.gather(
        *(send(repo, s, f"m{s.pk}-{n}", alice, bob) for s in senders for n in range(10))
    )
    assert len(commits) < len(results) / 4  # shared transactions, not one each
    sent = [(s, f"m{s.pk}-{n}") for s in senders for n in range(10)]
    for (sender, message_id), stored in zip(sent, results, strict=True):
        assert stored is not None
        assert [(m.sender, m.message_id, m.recipient_device_pk, m.body) for m in stored] == [
            (sender.address, message_id, r.pk, f"{message_id}>{r.pk}".encode())
            for r in (alice, bob)
        ]
    # Every row once, under the id its caller was told.
    fetched = {m.id: m for d in (alice, bob) for m in await repo.fetch(d.pk, 1000)}
    told = {m.id: m for stored in results if stored for m in stored}
    assert fetched == told and len(told) == 400


async def test_a_retry_in_the_same_round_or_later_is_a_duplicate(repo: Repository) -> None:
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    first, again = await asyncio.gather(
        send(repo, alice, "same", bob), send(repo, alice, "same", bob)
    )
    assert first is not None and again is None
    assert await send(repo, alice, "same", bob) is None
    assert await repo.sent_before(alice.pk, "same")
    assert not await repo.sent_before(alice.pk, "other")
    # After acknowledgement the receipt still answers a late retry.
    await repo.ack(bob.pk, [first[0].id])  # type: ignore[attr-defined]
    assert await send(repo, alice, "same", bob) is None
    assert await repo.sent_before(alice.pk, "same")
    assert await queued_bodies(repo) == []


async def test_queue_full_refuses_only_the_sends_past_the_bound(repo: Repository) -> None:
    senders = [await new_device(repo, f"sender{i}") for i in range(6)]
    full, roomy = await new_device(repo, "full"), await new_device(repo, "roomy")
    results = await asyncio.gather(
        *(send(repo, s, "to-full", full, depth=4) for s in senders),
        *(send(repo, s, "to-roomy", roomy, depth=4) for s in senders[:3]),
        return_exceptions=True,
    )
    to_full, to_roomy = results[:6], results[6:]
    assert [isinstance(r, list) for r in to_full] == [True] * 4 + [False] * 2
    assert all(isinstance(r, QueueFull) for r in to_full[4:])
    assert all(isinstance(r, list) for r in to_roomy)
    # A refused send left no receipt: once there is room, its retry is stored.
    assert not await repo.sent_before(senders[5].pk, "to-full")
    await repo.ack(full.pk, [m.id for m in await repo.fetch(full.pk, 10)])
    assert await send(repo, senders[5], "to-full", full, depth=4) is not None


async def test_queue_full_counts_the_rounds_own_copies(repo: Repository) -> None:
    bob = await new_device(repo, "bob")
    senders = [await new_device(repo, f"sender{i}") for i in range(3)]
    round_ = [
        queue_writes.Enqueue(s.pk, s.address, 1, "m", (Envelope(bob.pk, "message", b"x"),), 1, 2)
        for s in senders
    ]
    outcomes = await queue_writes.write_round(repo.engine, round_)
    assert [type(o) for o in outcomes] == [list, list, QueueFull]


async def test_a_send_repeated_in_its_round_shares_its_first_attempts_answer(
    repo: Repository,
) -> None:
    """A retry that catches its first attempt up in the same round is a duplicate if
    that attempt is stored, and refused as it is if not: never "stored" for nothing."""
    alice, bob, carol = [await new_device(repo, h) for h in ("alice", "bob", "carol")]
    assert await send(repo, carol, "fills-bob", bob, depth=1) is not None

    def twice(message_id: str, to: DeviceRecord) -> list[queue_writes.QueueWrite]:
        attempt = queue_writes.Enqueue(
            alice.pk, alice.address, 1, message_id, (Envelope(to.pk, "message", b"x"),), 1, 1
        )
        return [attempt, attempt]

    outcomes = await queue_writes.write_round(
        repo.engine, [*twice("to-full-bob", bob), *twice("to-carol", carol)]
    )
    assert [type(o) for o in outcomes] == [QueueFull, QueueFull, list, type(None)]
    assert not await repo.sent_before(alice.pk, "to-full-bob")  # a later retry is stored


async def test_a_failing_member_does_not_lose_the_others(repo: Repository) -> None:
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    gone = 999_999  # no such device: its row breaks the foreign key (or the round's insert)
    good = [
        queue_writes.Enqueue(
            alice.pk, alice.address, 1, f"ok{i}", (Envelope(bob.pk, "message", b"ok"),), 1, 100
        )
        for i in range(3)
    ]
    bad = queue_writes.Enqueue(
        alice.pk, alice.address, 1, "bad", (Envelope(gone, "message", b"no"),), 1, 100
    )
    outcomes = await queue_writes.write_round(repo.engine, [good[0], bad, good[1], good[2]])
    assert isinstance(outcomes[1], RecipientGone)
    assert all(isinstance(outcomes[i], list) for i in (0, 2, 3))
    assert sorted(await queued_bodies(repo)) == [b"ok"] * 3
    # The failed send left no receipt behind: nothing was accepted.
    async with repo.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(send_receipts))).scalar() == 3


async def test_acknowledgements_in_one_round_count_their_own_rows(repo: Repository) -> None:
    alice, bob, carol = [await new_device(repo, h) for h in ("alice", "bob", "carol")]
    for n in range(4):
        await send(repo, alice, f"m{n}", bob, carol)
    bobs = [m.id for m in await repo.fetch(bob.pk, 10)]
    carols = [m.id for m in await repo.fetch(carol.pk, 10)]
    deleted = await asyncio.gather(
        repo.ack(bob.pk, bobs[:2]),
        repo.ack(bob.pk, bobs[1:3]),  # bobs[1] counted once, for the first
        repo.ack(carol.pk, bobs[3:] + carols[:1]),  # bob's row is not carol's to delete
        repo.ack(carol.pk, [bobs[0], bobs[0]]),
    )
    assert deleted == [2, 1, 1, 0]
    assert [m.id for m in await repo.fetch(bob.pk, 10)] == bobs[3:]
    assert [m.id for m in await repo.fetch(carol.pk, 10)] == carols[1:]


async def test_sends_and_acknowledgements_share_a_round(repo: Repository) -> None:
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    stored = await send(repo, alice, "first", bob, depth=1)
    assert stored is not None
    # The acknowledgement arrives first, so its room counts for the send after it.
    deleted, second = await asyncio.gather(
        repo.ack(bob.pk, [stored[0].id]),  # type: ignore[attr-defined]
        send(repo, alice, "second", bob, depth=1),
    )
    assert deleted == 1 and second is not None


async def test_a_lone_send_is_written_at_once(repo: Repository) -> None:
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    commits = count_transactions(repo)
    for n in range(5):
        assert await send(repo, alice, f"m{n}", bob) is not None
    assert len(commits) == 5


async def test_a_sender_that_gives_up_still_has_its_message_stored(repo: Repository) -> None:
    alice, bob = await new_device(repo, "alice"), await new_device(repo, "bob")
    gave_up = asyncio.create_task(send(repo, alice, "abandoned", bob))
    await asyncio.sleep(0)  # queued in a round
    gave_up.cancel()
    assert await send(repo, alice, "after", bob) is not None  # that round is done by now
    assert gave_up.cancelled()
    # Stored, so the sender's retry with the same id is answered as a duplicate.
    assert sorted(await queued_bodies(repo)) == [
        f"abandoned>{bob.pk}".encode(),
        f"after>{bob.pk}".encode(),
    ]
    assert await send(repo, alice, "abandoned", bob) is None
