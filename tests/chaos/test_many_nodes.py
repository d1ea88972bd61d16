"""Three nodes on PostgreSQL and Redis behind a load balancer, crashed at random.

Senders spread over the nodes send 10,000 messages (real encryption, the SDK)
while a chaos task SIGKILLs a random node and restarts it, restarts PostgreSQL
(an immediate stop, as a crash) and restarts Redis. At the end every recipient's
view holds every message exactly once, each sender's messages in the order they
were sent, and no queue on the server holds anything.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sottovoce.client import Client, ReceivedMessage
from sottovoce.server.process import ServerProcess
from sottovoce.storage.repository import Repository
from sottovoce.storage.schema import queued_messages
from tests.support.balancer import Balancer
from tests.support.services import PostgresCluster, RedisServer

NODES = 3
SENDERS = 8
RECIPIENTS = 4
MESSAGES = int(os.environ.get("SOTTOVOCE_CHAOS_MESSAGES", "10000"))
PER_SENDER = MESSAGES // SENDERS
# Bounds of the whole run: the sends at no less than 10 messages/s (a fifth of
# what a loaded 2-core machine gives), delivery this long after the last send.
SEND_TIMEOUT_S = 120.0 + MESSAGES / 10
DRAIN_TIMEOUT_S = 120.0
# A node stays down this long before it is restarted; chaos pauses in between.
DOWN_S = (0.3, 1.5)
BETWEEN_KILLS_S = (1.0, 3.0)
# A restarted node comes up under every client reconnecting to it at once, on a
# CI machine that the rest of the suite keeps busy: it may take longer than a
# first start to answer /healthz. What is tested is what it loses, not how fast.
RESTART_TIMEOUT_S = 120.0
# Where the clients keep their profiles: memory when the machine has it. Each store
# commits with synchronous=FULL, an fsync per message sent or received, on the one
# event loop all the clients share; the crashes tested here are the server's (its
# PostgreSQL keeps every write), the clients never crash, so that disk wait only
# slowed every client down (it was most of the test's time on a loaded disk).
MEMORY_FS = Path("/dev/shm")


@pytest.fixture
def profiles(tmp_path: Path) -> Iterator[Path]:
    if not MEMORY_FS.is_dir():
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="sottovoce-chaos-", dir=MEMORY_FS))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def cluster(
    running_services: tuple[PostgresCluster, RedisServer], tmp_path: Path
) -> AsyncIterator[tuple[list[ServerProcess], Balancer, str]]:
    postgres, redis = running_services
    db_url = postgres.create_database()
    nodes = [
        ServerProcess(tmp_path / f"node-{i}", db_url=db_url, redis_url=redis.url)
        for i in range(NODES)
    ]
    for node in nodes:
        node.directory.mkdir()
        node.startup_timeout_s = RESTART_TIMEOUT_S
    # The first node runs the migrations alone, then the others join.
    nodes[0].start()
    for node in nodes[1:]:
        node.start()
    balancer = Balancer([node.port for node in nodes])
    await balancer.start()
    try:
        yield nodes, balancer, db_url
    finally:
        await balancer.close()
        for node in nodes:
            node.stop()


async def chaos(
    nodes: list[ServerProcess],
    postgres: PostgresCluster,
    redis: RedisServer,
    progress: list[int],
    done: asyncio.Event,
    events: list[str],
) -> None:
    """Kill and restart one random node at a time; restart PostgreSQL once past 30%
    of the messages and Redis once past 60%."""
    rng = random.Random(7)
    postgres_restarted = redis_restarted = False
    while not done.is_set():
        await asyncio.sleep(rng.uniform(*BETWEEN_KILLS_S))
        if done.is_set():
            return
        sent = sum(progress)
        if not postgres_restarted and sent >= MESSAGES * 0.3:
            await asyncio.to_thread(postgres.restart, "immediate")
            postgres_restarted = True
            events.append(f"postgresql restarted at {sent}")
            continue
        if not redis_restarted and sent >= MESSAGES * 0.6:
            await asyncio.to_thread(redis.restart)
            redis_restarted = True
            events.append(f"redis restarted at {sent}")
            continue
        node = rng.choice(nodes)
        node.kill()
        events.append(f"node {nodes.index(node)} killed at {sent}")
        await asyncio.sleep(rng.uniform(*DOWN_S))
        await asyncio.to_thread(node.start)
    assert postgres_restarted and redis_restarted, events


async def stay_connected(client: Client) -> None:
    """Hold the live connection open (reconnecting as nodes die): while it is open
    the SDK sends over it instead of by HTTP."""
    async for message in client.listen():
        raise AssertionError(f"a sender received {message.text!r}")


async def receive(client: Client, view: list[ReceivedMessage], expected: int) -> None:
    async for message in client.listen():
        view.append(message)
        if len(view) >= expected:
            return


def what_went_wrong(numbers: list[int]) -> str:
    """How the numbers one sender's messages arrived with differ from 0, 1, 2, ...:
    missing, duplicated, out of order (empty when they do not)."""
    missing = sorted(set(range(PER_SENDER)) - set(numbers))
    twice = sorted(n for n, times in Counter(numbers).items() if times > 1)
    late = next((i for i in range(1, len(numbers)) if numbers[i] < numbers[i - 1]), None)
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {missing[:20]}")
    if twice:
        problems.append(f"twice {len(twice)}: {twice[:20]}")
    if late is not None:
        problems.append(f"out of order at position {late}: {numbers[max(0, late - 3) : late + 3]}")
    return "; ".join(problems)


async def still_queued(db_url: str, message_ids: list[str]) -> dict[str, int]:
    """How many rows the server still queues for each of these sends: a lost message
    that is still queued was stored and never delivered; one that is not was never
    stored, or was acknowledged without being handed out."""
    repo = Repository.connect(db_url)
    try:
        async with repo.engine.connect() as conn:
            rows = await conn.execute(
                select(queued_messages.c.message_id, func.count())
                .where(queued_messages.c.message_id.in_(message_ids))
                .group_by(queued_messages.c.message_id)
            )
            counted = {str(message_id): int(count) for message_id, count in rows}
    finally:
        await repo.close()
    return {message_id: counted.get(message_id, 0) for message_id in message_ids}


async def delivery_report(
    views: dict[str, list[ReceivedMessage]],
    expected: dict[str, int],
    sent: dict[str, list[str]],
    target: dict[str, str],
    db_url: str,
    events: list[str],
) -> str:
    """Every recipient's count, then for each sender whose messages did not arrive
    exactly once each and in order what went wrong, and where the lost ones are."""
    lines = []
    for address, view in views.items():
        lines.append(f"{address}: {len(view)} of {expected[address]} received")
        by_sender: dict[str, list[int]] = defaultdict(list)
        for message in view:
            by_sender[message.sender].append(int(message.text.rsplit(" ", 1)[1]))
        for sender in sorted(s for s, to in target.items() if to == address):
            numbers = by_sender[sender]
            if problem := what_went_wrong(numbers):
                lines.append(f"  from {sender}: {problem}")
                lost = sorted(set(range(PER_SENDER)) - set(numbers))[:20]
                answered = [sent[sender][n] for n in lost if n < len(sent[sender])]
                queued = await still_queued(db_url, answered)
                lines.append(
                    f"  rows still queued for the first lost ones (message id: rows): {queued}; "
                    f"sends answered stored: {len(sent[sender])} of {PER_SENDER}"
                )
    lines.append(f"chaos: {events}")
    return "\n".join(lines)


@pytest.mark.start_first
@pytest.mark.timeout(SEND_TIMEOUT_S + DRAIN_TIMEOUT_S + 120)
async def test_no_message_is_lost_or_duplicated_while_nodes_crash(
    cluster: tuple[list[ServerProcess], Balancer, str],
    running_services: tuple[PostgresCluster, RedisServer],
    profiles: Path,
) -> None:
    nodes, balancer, db_url = cluster
    postgres, redis = running_services
    # Accounts are created at once through the balancer, so on every node: each
    # appends to the one key-transparency log the database holds.
    recipients = list(
        await asyncio.gather(
            *(
                Client.create_account(profiles / f"r{i}", balancer.url, "chat", f"r{i}")
                for i in range(RECIPIENTS)
            )
        )
    )
    senders = list(
        await asyncio.gather(
            *(
                Client.create_account(profiles / f"s{i}", balancer.url, "photos", f"s{i}")
                for i in range(SENDERS)
            )
        )
    )
    target = {s.address: recipients[i % RECIPIENTS] for i, s in enumerate(senders)}
    expected = defaultdict(int)
    for sender in senders:
        expected[target[sender.address].address] += PER_SENDER
    views: dict[str, list[ReceivedMessage]] = {r.address: [] for r in recipients}
    listeners = [
        asyncio.create_task(receive(r, views[r.address], expected[r.address])) for r in recipients
    ]
    progress = [0] * SENDERS
    done = asyncio.Event()
    events: list[str] = []

    # Each sender's message ids in the order the server answered them stored.
    sent: dict[str, list[str]] = {s.address: [] for s in senders}

    async def send_all(index: int, sender: Client) -> None:
        to = target[sender.address].address
        for n in range(1, PER_SENDER):
            stored = await sender.send(to, f"{sender.address} {n}")
            sent[sender.address].append(stored.message_id)
            progress[index] = n + 1

    # Each sender's first message starts its session (device list, prekey claim,
    # access-key upload: requests the SDK does not retry), so it goes before chaos.
    # Every later send is one POST that the SDK retries with the same message id.
    for sender in senders:
        stored = await sender.send(target[sender.address].address, f"{sender.address} 0")
        sent[sender.address].append(stored.message_id)
    # Half the senders keep a live connection, so their sends go over the WebSocket;
    # the others send by HTTP: both paths cross the crashes.
    connected = [asyncio.create_task(stay_connected(s)) for s in senders[::2]]
    chaos_task = asyncio.create_task(chaos(nodes, postgres, redis, progress, done, events))
    try:
        await asyncio.wait_for(
            asyncio.gather(*(send_all(i, s) for i, s in enumerate(senders))), SEND_TIMEOUT_S
        )
    finally:
        done.set()
        await chaos_task
        for task in connected:
            task.cancel()
        for ended in await asyncio.gather(*connected, return_exceptions=True):
            if isinstance(ended, Exception):
                raise ended
    for node in nodes:  # everyone up again for the drain
        if node._process is None:
            await asyncio.to_thread(node.start)
    try:
        await asyncio.wait_for(asyncio.gather(*listeners), DRAIN_TIMEOUT_S)
        drained = True
    except TimeoutError:
        drained = False

    assert any("killed" in e for e in events), events
    for recipient in recipients:
        view = views[recipient.address]
        arrived: dict[str, list[int]] = defaultdict(list)
        for message in view:
            address, number = message.text.rsplit(" ", 1)
            assert address == message.sender
            arrived[message.sender].append(int(number))
        # Exactly once each, in the order sent.
        exactly = all(
            arrived[s.address] == list(range(PER_SENDER))
            for s in senders
            if target[s.address] is recipient
        )
        if not (drained and exactly and len(view) == expected[recipient.address]):
            to = {s.address: target[s.address].address for s in senders}
            report = await delivery_report(views, expected, sent, to, db_url, events)
            raise AssertionError(
                f"{'undelivered after the drain' if not drained else 'delivered wrongly'}:\n"
                f"{report}"
            )
    # A last fetch sends the acks a closed stream had no time to send; it finds
    # nothing new (anything redelivered is recognised as seen and dropped).
    for recipient in recipients:
        assert await recipient.fetch() == []
    for client in recipients + senders:
        await client.close()

    # Every copy was acknowledged: nothing is left in any queue.
    repo = Repository.connect(db_url)
    try:
        async with repo.engine.connect() as conn:
            left = (
                await conn.execute(select(func.count()).select_from(queued_messages))
            ).scalar_one()
    finally:
        await repo.close()
    assert left == 0
