"""The queue reads of streams woken together share one round
(storage.unsent_reads: on PostgreSQL one statement over every device), and each
stream gets what its own read would have: its device's oldest rows, at most its
limit, none of those it has in flight, in queue order; a device read twice in a
round (two connections) gets each connection's own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.server.settings import database_url
from sottovoce.storage.repository import Envelope, Repository
from tests.support import services
from tests.support.repository import placeholder_device

DEVICES = 6
ROWS_EACH = 5
QUEUE_BOUND = 1000


@pytest.fixture(params=["postgresql", "sqlite"])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repository]:
    if request.param == "postgresql":
        url = services.postgres().migrated_database()
    else:
        services.migrated_sqlite(tmp_path / "store.db")
        url = database_url(str(tmp_path / "store.db"))
    repository = Repository.connect(url)
    try:
        yield repository
    finally:
        await repository.close()


async def test_streams_woken_together_each_read_their_own_rows(repo: Repository) -> None:
    sender = await placeholder_device(repo)
    recipients = [await placeholder_device(repo) for _ in range(DEVICES)]
    ids: dict[int, list[int]] = {}
    for n in range(ROWS_EACH):
        for recipient in recipients:
            stored = await repo.enqueue(
                sender=sender,
                message_id=f"m-{recipient.pk}-{n}",
                envelopes=[Envelope(recipient.pk, "message", b"body %d" % n)],
                server_ts=n,
                max_queue_depth=QUEUE_BOUND,
            )
            assert stored is not None
            ids.setdefault(recipient.pk, []).append(stored[0].id)
    first, second, *rest = recipients
    reads = [
        repo.fetch_unsent(first.pk, 2, []),
        repo.fetch_unsent(second.pk, 10, ids[second.pk][1:3]),
        # The first device again, on another connection with other rows in flight.
        repo.fetch_unsent(first.pk, 10, ids[first.pk][:2]),
        *(repo.fetch_unsent(r.pk, 10, ids[r.pk][-1:]) for r in rest),
    ]
    found = await asyncio.gather(*reads)
    assert [m.id for m in found[0]] == ids[first.pk][:2]
    assert [m.id for m in found[1]] == [ids[second.pk][0], *ids[second.pk][3:]]
    assert [m.id for m in found[2]] == ids[first.pk][2:]
    for recipient, rows in zip(rest, found[3:], strict=True):
        assert [m.id for m in rows] == ids[recipient.pk][:-1]
        assert {m.recipient_device_pk for m in rows} == {recipient.pk}
    assert [m.body for m in found[0]] == [b"body 0", b"body 1"]
    assert found[0][0].message_id == f"m-{first.pk}-0"
    assert found[0][0].sender == sender.address


async def test_a_device_with_nothing_queued_reads_nothing(repo: Repository) -> None:
    empty, other = await placeholder_device(repo), await placeholder_device(repo)
    found = await asyncio.gather(
        repo.fetch_unsent(empty.pk, 10, []), repo.fetch_unsent(other.pk, 10, [1, 2])
    )
    assert found == [[], []]
