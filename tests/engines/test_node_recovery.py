"""Two nodes on one PostgreSQL and one Redis behind a load balancer, with SDK clients
(real encryption), while one piece at a time goes away (docs/operations.md):

- a node gets SIGTERM while clients are connected: each socket is closed with 1012
  (service restart), the listening client reconnects with backoff through the
  balancer to the other node, and nothing sent meanwhile is lost or shown twice;
- the node a message is sent through is killed and restarted: a device connected
  to the other node still hears it at once (no routing state to rebuild);
- PostgreSQL is restarted mid-run (an immediate stop, as a crash): sends retry,
  delivery resumes, everything arrives once, in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from sottovoce.client import Client, ReceivedMessage
from sottovoce.server.process import ServerProcess
from sottovoce.storage.repository import Repository
from sottovoce.storage.schema import queued_messages
from tests.support.balancer import Balancer
from tests.support.device import MESSAGES as MESSAGES_PATH
from tests.support.device import WEBSOCKET, BareDevice
from tests.support.frames import next_frame
from tests.support.nodes import two_nodes
from tests.support.services import PostgresCluster, RedisServer

# RFC 6455 §7.4 with the IANA registry's 1012: service restart, reconnect elsewhere.
SERVICE_RESTART = 1012
# Bounds, not timings: how long a step may take before the test calls it lost.
DELIVERY_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 5.0  # well inside the node's 10 s grace: closed at once, not at its end
EXIT_TIMEOUT_S = 20.0
MESSAGES = 30


class Cluster:
    def __init__(self, nodes: list[ServerProcess], balancer: Balancer, db_url: str) -> None:
        self.nodes = nodes
        self.balancer = balancer
        self.db_url = db_url

    async def connections(self, node: ServerProcess) -> float:
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            if family.name == "sottovoce_websocket_connections":
                return float(family.samples[0].value)
        raise AssertionError("no connection gauge on /metrics")

    async def node_holding_one_socket(self, *, up: list[ServerProcess]) -> ServerProcess:
        """The one node of ``up`` that holds a WebSocket, once exactly one does."""
        for _ in range(200):
            counts = [await self.connections(node) for node in up]
            if sorted(counts) == [0.0] * (len(up) - 1) + [1.0]:
                return up[counts.index(1.0)]
            await asyncio.sleep(0.1)
        raise AssertionError(f"expected one WebSocket over the nodes, saw {counts}")

    async def queued(self) -> int:
        repo = Repository.connect(self.db_url)
        try:
            async with repo.engine.connect() as conn:
                count = select(func.count()).select_from(queued_messages)
                return int((await conn.execute(count)).scalar_one())
        finally:
            await repo.close()


@pytest.fixture
async def cluster(
    running_services: tuple[PostgresCluster, RedisServer], tmp_path: Path
) -> AsyncIterator[Cluster]:
    with two_nodes(*running_services, tmp_path, migrated=True) as nodes:
        assert nodes[0].db_url is not None
        balancer = Balancer([node.port for node in nodes])
        await balancer.start()
        try:
            yield Cluster(list(nodes), balancer, nodes[0].db_url)
        finally:
            await balancer.close()


class Conversation:
    """A sender and a listening recipient, both through the balancer."""

    def __init__(self, sender: Client, recipient: Client) -> None:
        self.sender = sender
        self.recipient = recipient
        self.view: list[ReceivedMessage] = []
        self.sent: list[str] = []
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, cluster: Cluster, directory: Path) -> Conversation:
        sender, recipient = await asyncio.gather(
            Client.create_account(directory / "s", cluster.balancer.url, "chat", "sender"),
            Client.create_account(directory / "r", cluster.balancer.url, "photos", "recipient"),
        )
        talk = cls(sender, recipient)
        talk._listener = asyncio.create_task(talk._listen())
        # The first message sets the session up (requests the SDK does not retry),
        # so it goes before anything is taken away.
        await talk.send()
        await talk.delivered()
        return talk

    async def _listen(self) -> None:
        async for message in self.recipient.listen():
            self.view.append(message)

    async def send(self) -> None:
        text = f"m{len(self.sent)}"
        self.sent.append(text)
        await self.sender.send(self.recipient.address, text)

    async def delivered(self) -> None:
        """Every message sent so far is in the recipient's view."""
        for _ in range(int(DELIVERY_TIMEOUT_S / 0.05)):
            if len(self.view) >= len(self.sent):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.view)} of {len(self.sent)} delivered")

    async def finish(self, cluster: Cluster) -> None:
        """Exactly once, in the order sent; nothing left queued once acknowledged."""
        await self.delivered()
        await asyncio.sleep(0.5)  # a late duplicate would land in the view by now
        assert [m.text for m in self.view] == self.sent
        assert all(m.sender == self.sender.address for m in self.view)
        assert self._listener is not None
        self._listener.cancel()
        await asyncio.gather(self._listener, return_exceptions=True)
        assert await self.recipient.fetch() == []  # sends any ack a closed stream owed
        assert await cluster.queued() == 0
        await self.sender.close()
        await self.recipient.close()


async def test_sigterm_closes_sockets_and_clients_reconnect_to_the_other_node(
    cluster: Cluster, tmp_path: Path
) -> None:
    talk = await Conversation.start(cluster, tmp_path)
    victim = await cluster.node_holding_one_socket(up=cluster.nodes)
    survivor = next(node for node in cluster.nodes if node is not victim)
    # A second client on the same node, watched frame by frame for its close code.
    async with httpx.AsyncClient(base_url=victim.url, timeout=30) as http:
        watcher = await BareDevice().register(http)
    header = watcher.authorization("GET", WEBSOCKET, b"")
    url = "ws" + victim.url.removeprefix("http") + WEBSOCKET
    async with websockets.connect(url, additional_headers={"authorization": header}) as raw:
        await next_frame(raw, "queue_empty", DELIVERY_TIMEOUT_S)
        for _ in range(MESSAGES // 3):
            await talk.send()
        assert victim._process is not None
        process = victim._process
        process.terminate()  # SIGTERM, while both clients are connected
        sending = asyncio.create_task(_send_rest(talk))  # sends go on meanwhile
        await asyncio.wait_for(raw.wait_closed(), CLOSE_TIMEOUT_S)
        assert raw.close_code == SERVICE_RESTART
    await asyncio.to_thread(process.wait, EXIT_TIMEOUT_S)
    victim._process = None
    await sending
    await talk.delivered()
    # The listening client is now connected to the other node (the only one up).
    assert await cluster.connections(survivor) == 1
    await talk.finish(cluster)


async def _send_rest(talk: Conversation) -> None:
    while len(talk.sent) < MESSAGES:
        await talk.send()


async def test_a_node_restarted_under_a_sender_still_reaches_a_device_on_the_other(
    cluster: Cluster,
) -> None:
    holder, other = cluster.nodes
    async with (
        httpx.AsyncClient(base_url=holder.url, timeout=30) as at_holder,
        httpx.AsyncClient(base_url=other.url, timeout=30) as at_other,
    ):
        alice = await BareDevice().register(at_other)
        bob = await BareDevice(app="photos").register(at_holder)
        header = bob.authorization("GET", WEBSOCKET, b"")
        url = "ws" + holder.url.removeprefix("http") + WEBSOCKET
        async with websockets.connect(url, additional_headers={"authorization": header}) as ws:
            await next_frame(ws, "queue_empty", DELIVERY_TIMEOUT_S)
            other.kill()  # the sending side's node crashes and comes back
            await asyncio.to_thread(other.start)
            # Sent through the restarted node, which knows nothing of where bob is
            # connected: the holder is woken through Redis, bob never reconnects.
            for _ in range(3):
                body = BareDevice.send_body(bob.address)
                response = await alice.call(at_other, "POST", MESSAGES_PATH, body)
                assert response.status_code == 200, response.text
                envelope = (await next_frame(ws, "envelope", DELIVERY_TIMEOUT_S))["envelope"]
                assert envelope["message_id"] == body["message_id"]
                await ws.send(json.dumps({"type": "ack", "ids": [envelope["id"]]}))
            assert await cluster.connections(holder) == 1


async def test_postgresql_restarted_mid_run_loses_nothing(
    cluster: Cluster,
    running_services: tuple[PostgresCluster, RedisServer],
    tmp_path: Path,
) -> None:
    postgres, _ = running_services
    talk = await Conversation.start(cluster, tmp_path)
    for _ in range(MESSAGES // 3):
        await talk.send()
    await asyncio.to_thread(postgres.restart, "immediate")  # a crash: clients cut off
    await _send_rest(talk)
    await talk.finish(cluster)
