"""Preservation freezes the retention sweep; notices reach devices when they are due."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete

from sottovoce.protocol.errors import VerificationError
from sottovoce.protocol.public.legal import verify_notice
from sottovoce.server.retention import MS_PER_DAY, sweep_once
from sottovoce.server.settings import Retention
from sottovoce.storage.legal import OPERATOR_NOTICE_TYPE, OPERATOR_SENDER
from sottovoce.storage.schema import accounts
from tests.legal.world import World, queue_for


async def _queued(world: World, app: str, handle: str) -> int:
    account = await world.repo.account(app, handle)
    return len(await world.repo.fetch(account.devices[0].pk, 100))


async def test_preservation_freezes_the_retention_sweep(world: World) -> None:
    now_ms = int(world.now.timestamp() * 1000)
    old = now_ms - 40 * MS_PER_DAY
    await queue_for(world, "chat", "alice", 2, old)
    await queue_for(world, "photos", "bob", 2, old)
    request = world.request(
        process_type="preservation",
        categories=["subscriber", "queued_counts", "message_content"],
        preserve_days=90,
    )
    outcome = await world.submit(world.document(request))
    assert outcome.accepted, outcome.detail
    package = outcome.package["package"]
    assert package["kind"] == "preservation-acknowledgement"
    assert package["preserved_until"] == "2027-03-01"
    [alice] = package["accounts"]
    assert alice["records"] == {}
    assert alice["preserved_categories"] == ["queued_counts", "subscriber"]
    assert await world.store.is_preserved("chat", "alice", int(world.now.timestamp() // 86_400))

    dropped = await sweep_once(world.repo, Retention(undelivered_days=30), now_ms)
    assert dropped == 2  # bob's, not alice's
    assert await _queued(world, "chat", "alice") == 2
    assert await _queued(world, "photos", "bob") == 0

    # After the preservation ends, retention applies again.
    later = now_ms + 91 * MS_PER_DAY
    assert await sweep_once(world.repo, Retention(undelivered_days=30), later) == 2
    assert not await world.store.preserved_snapshots("chat", "alice", 0)  # snapshot dropped
    events = [e["event"] for e in await world.audit_events()]
    assert events == ["request-verified", "preservation"]


async def test_preserved_records_survive_deletion_and_reach_a_later_warrant(
    world: World,
) -> None:
    await queue_for(world, "chat", "alice", 2, int(world.now.timestamp() * 1000))
    request = world.request(
        process_type="preservation", categories=["devices", "queued_counts"], preserve_days=30
    )
    assert (await world.submit(world.document(request))).accepted
    # The account is deleted meanwhile (its devices and queue go with it).
    async with world.repo.engine.begin() as conn:
        await conn.execute(delete(accounts).where(accounts.c.handle == "alice"))
    world.now += timedelta(days=3)
    warrant = world.request(categories=["subscriber", "devices", "queued_counts"])
    outcome = await world.submit(world.document(warrant, judicial="us-court"))
    assert outcome.accepted, outcome.detail
    [alice] = outcome.package["package"]["accounts"]
    assert alice["found"] is False and alice["records"] == {}
    [snapshot] = alice["preserved_records"]
    assert snapshot["preserved_on"] == "2026-12-01"
    assert snapshot["records"]["queued_counts"]["devices"] == [
        {"device_id": 1, "queued_ciphertexts": 2}
    ]
    assert [d["device_id"] for d in snapshot["records"]["devices"]["devices"]] == [1]
    # What was never preserved and no longer exists is answered plainly.
    assert {u["category"]: u["reason"] for u in alice["unavailable"]} == {"subscriber": "not-held"}
    # After the period, the snapshot is no longer in force.
    world.now += timedelta(days=30)
    later = world.request(categories=["devices"])
    answer = await world.submit(world.document(later, judicial="us-court"))
    assert answer.package["package"]["accounts"][0]["preserved_records"] == []


async def test_notice_without_non_disclosure_reaches_every_device_at_once(world: World) -> None:
    outcome = await world.submit(world.document(world.request(process_type="subpoena")))
    assert outcome.accepted
    assert await world.desk.deliver_due_notices() == 1
    account = await world.repo.account("chat", "alice")
    [queued] = await world.repo.fetch(account.devices[0].pk, 10)
    assert queued.type == OPERATOR_NOTICE_TYPE and queued.sender == OPERATOR_SENDER
    notice = verify_notice(queued.body, world.desk.operator_key.public).body
    assert notice["account"] == "alice@chat"
    assert notice["process_type"] == "subpoena"
    assert notice["categories_disclosed"] == ["subscriber"]
    assert "not end-to-end encrypted" in notice["statement"]
    # Delivered once only.
    assert await world.desk.deliver_due_notices() == 0


async def test_notice_waits_for_the_end_of_the_non_disclosure_period(world: World) -> None:
    request = world.request(process_type="subpoena", non_disclosure_until="2027-01-15")
    assert (await world.submit(world.document(request))).accepted
    assert await world.desk.deliver_due_notices() == 0
    world.now += timedelta(days=45)  # 2027-01-15: still within the period
    assert await world.desk.deliver_due_notices() == 0
    world.now += timedelta(days=1)
    assert await world.desk.deliver_due_notices() == 1
    assert any(e["event"] == "notice-delivered" for e in await world.audit_events())


async def test_a_tampered_notice_does_not_verify(world: World) -> None:
    assert (await world.submit(world.document(world.request(process_type="subpoena")))).accepted
    await world.desk.deliver_due_notices()
    account = await world.repo.account("chat", "alice")
    [queued] = await world.repo.fetch(account.devices[0].pk, 10)
    document = json.loads(queued.body)
    document["notice"]["categories_disclosed"] = []
    with pytest.raises(VerificationError):
        verify_notice(json.dumps(document).encode(), world.desk.operator_key.public)
