"""The audit chain detects edits, deletions, reordering and a cut-off tail."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, update

from sottovoce.server.legal.audit import chain_hash, verify_chain
from sottovoce.storage.schema import legal_audit
from tests.legal.world import World


async def _three_entries(world: World) -> None:
    await world.submit(world.document(world.request(process_type="subpoena")))
    await world.submit(b"not json")


async def test_an_untouched_chain_verifies(world: World) -> None:
    await _three_entries(world)
    rows = await world.store.audit_rows()
    check = verify_chain(rows)
    assert check.ok, check.problems
    assert [r.seq for r in rows] == [1, 2, 3]
    assert verify_chain(rows, expect_head=check.head).ok


async def test_an_edited_entry_is_detected(world: World) -> None:
    await _three_entries(world)
    async with world.repo.engine.begin() as conn:
        row = (await conn.execute(legal_audit.select().where(legal_audit.c.seq == 2))).first()
        edited = row.entry.replace(b'"subpoena"', b'"warrant"')
        assert edited != row.entry
        await conn.execute(update(legal_audit).where(legal_audit.c.seq == 2).values(entry=edited))
    check = verify_chain(await world.store.audit_rows())
    assert check.problems == ["entry 2 was edited: its hash does not match"]


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(world: World) -> None:
    await _three_entries(world)
    async with world.repo.engine.begin() as conn:
        row = (await conn.execute(legal_audit.select().where(legal_audit.c.seq == 1))).first()
        edited = row.entry.replace(b'"subpoena"', b'"warrant"')
        await conn.execute(
            update(legal_audit)
            .where(legal_audit.c.seq == 1)
            .values(entry=edited, hash=chain_hash(row.prev_hash, edited))
        )
    check = verify_chain(await world.store.audit_rows())
    assert check.problems == [
        "entry 2 does not link to the entry before it (one was deleted or changed)"
    ]


async def test_a_deleted_entry_is_detected(world: World) -> None:
    await _three_entries(world)
    async with world.repo.engine.begin() as conn:
        await conn.execute(delete(legal_audit).where(legal_audit.c.seq == 2))
    check = verify_chain(await world.store.audit_rows())
    assert not check.ok
    assert "entries 2..2 are missing (deleted)" in check.problems


async def test_a_deleted_and_renumbered_entry_is_detected(world: World) -> None:
    await _three_entries(world)
    async with world.repo.engine.begin() as conn:
        await conn.execute(delete(legal_audit).where(legal_audit.c.seq == 2))
        await conn.execute(update(legal_audit).where(legal_audit.c.seq == 3).values(seq=2))
    check = verify_chain(await world.store.audit_rows())
    assert not check.ok


async def test_a_cut_off_tail_is_caught_against_a_published_head(world: World) -> None:
    await _three_entries(world)
    published = verify_chain(await world.store.audit_rows()).head
    async with world.repo.engine.begin() as conn:
        await conn.execute(delete(legal_audit).where(legal_audit.c.seq == 3))
    rows = await world.store.audit_rows()
    assert verify_chain(rows).ok  # a shorter chain is internally consistent
    check = verify_chain(rows, expect_head=published)
    assert check.problems == ["the chain has no entry 3: entries were cut off the end"]


async def test_concurrent_appends_keep_one_chain(world: World) -> None:
    await asyncio.gather(*(world.submit(b"{}") for _ in range(12)))
    rows = await world.store.audit_rows()
    assert [r.seq for r in rows] == list(range(1, 13))
    assert verify_chain(rows).ok
