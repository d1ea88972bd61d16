"""Storage rounds (storage.rounds) on PostgreSQL's write path.

A caller that a round answers and that submits again at once is in the next
round, not the one after it: a WebSocket's storer
(routes.websocket) hands its next sends to the queue of writes only once its
previous ones were stored, and on PostgreSQL, with a write round of several
awaited statements, skipping a round cost each of its sends a whole round
(docs/performance.md, "PostgreSQL, session 7"). Checked on the rounds alone,
with rounds held until released, and on a real PostgreSQL repository, whose
write rounds are counted by their commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from sqlalchemy import event

from sottovoce.storage.repository import DeviceRecord, Envelope, Repository
from sottovoce.storage.rounds import Rounds
from tests.support import services
from tests.support.repository import placeholder_device

# Only bounds a failure: every wait below ends within a few loop passes.
WAIT_S = 5.0
CHAINED_SENDS = 12
# Between two of the other sends: below a write round's few round trips, and far
# from filling a round (rounds.MAX_BATCH).
ARRIVAL_GAP_S = 0.002


class HeldRounds:
    """A round's serve that waits until its round is released, recording each
    round's requests."""

    def __init__(self) -> None:
        self.served: list[list[str]] = []
        self.releases: list[asyncio.Event] = []

    async def __call__(self, requests: Sequence[str]) -> list[str | Exception]:
        self.served.append(list(requests))
        release = asyncio.Event()
        self.releases.append(release)
        await release.wait()
        return list(requests)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0)


async def test_a_caller_answered_by_a_round_is_in_the_next_one() -> None:
    held = HeldRounds()
    rounds: Rounds[str, str] = Rounds(held)

    async def chained() -> None:
        assert await rounds.submit("first") == "first"
        assert await rounds.submit("second") == "second"

    chain = asyncio.create_task(chained())
    await until(lambda: len(held.served) == 1)
    other = asyncio.create_task(rounds.submit("other"))
    await asyncio.sleep(0)  # "other" waits for the next round
    held.releases[0].set()
    await until(lambda: len(held.served) == 2)
    assert held.served == [["first"], ["other", "second"]]
    held.releases[1].set()
    await asyncio.wait_for(asyncio.gather(chain, other), WAIT_S)


@pytest.fixture
async def repo() -> AsyncIterator[Repository]:
    repository = Repository.connect(services.postgres().migrated_database())
    try:
        yield repository
    finally:
        await repository.close()


async def test_chained_sends_on_postgresql_take_a_write_round_each(repo: Repository) -> None:
    """A storer's chain of sends beside other sends arriving all the time: each of
    its sends is written in the round after its previous one's, so the chain takes
    one write round per send (it took two before: the other sends that arrived
    meanwhile made a round of their own first)."""
    sender, recipient, other_sender = [await placeholder_device(repo) for _ in range(3)]
    commits: list[int] = []
    event.listen(repo.rounds_engine, "commit", lambda _: commits.append(1))

    async def send(who: DeviceRecord, message_id: str) -> None:
        stored = await repo.enqueue(
            sender=who,
            message_id=message_id,
            envelopes=[Envelope(recipient.pk, "message", b"body")],
            server_ts=1,
            max_queue_depth=10_000,
        )
        assert stored is not None

    others: set[asyncio.Task[None]] = set()
    chain_done = asyncio.Event()

    async def arrivals() -> None:
        # Sends that arrive while each round is written, not in step with the rounds.
        n = 0
        while not chain_done.is_set():
            others.add(asyncio.create_task(send(other_sender, f"o-{n}")))
            n += 1
            await asyncio.sleep(ARRIVAL_GAP_S)

    flow = asyncio.create_task(arrivals())
    await asyncio.sleep(0.05)
    before = len(commits)
    for n in range(CHAINED_SENDS):
        await send(sender, f"c-{n}")
    rounds_taken = len(commits) - before
    chain_done.set()
    await asyncio.wait_for(asyncio.gather(flow, *others), WAIT_S)
    assert rounds_taken <= CHAINED_SENDS + 1
