"""One WebSocket never carries the same queue row twice, on two nodes sharing
PostgreSQL and Redis, while everything that makes it hard happens at once:

- senders on both nodes, so two writers' transactions commit out of id order;
- receivers on both nodes, so rows reach some streams by the direct push of the
  node that stored them (``server.live``) and others by a Redis wake-up and a
  queue read, and the push races the read that a wake-up started;
- every envelope acknowledged the moment it arrives, so acks commit while the
  stream's next queue read is in flight.

Delivery is at least once across connections (a row whose ack was not committed
when the device reconnected comes again, and the SDK drops it by message id); on
one connection a repeat would be the stream's own bug. ``bench/load.py`` counts
both kinds in its ``redelivered`` figure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from sottovoce.server.process import ServerProcess
from tests.support.device import MESSAGES, WEBSOCKET, BareDevice
from tests.support.nodes import two_nodes
from tests.support.services import PostgresCluster, RedisServer

SENDERS = 4
RECEIVERS = 4
PER_PAIR = 20  # messages from each sender to each receiver: 320 envelopes in all
SENDS_AT_ONCE = 24
# Bounds, not timings: how long the test waits before calling a message lost.
DELIVERY_TIMEOUT_S = 90.0


@pytest.fixture
async def nodes(
    running_services: tuple[PostgresCluster, RedisServer], tmp_path: Path
) -> AsyncIterator[list[ServerProcess]]:
    # A copy of the migrated template: the nodes start as on a restart, without
    # a migration to run first (slow on a loaded machine).
    with two_nodes(*running_services, tmp_path, migrated=True) as pair:
        yield list(pair)


class Receiver:
    """One device's one connection: every envelope in arrival order, acked at once."""

    def __init__(self, device: BareDevice, node: ServerProcess) -> None:
        self.device = device
        self.node = node
        self.queue_ids: list[int] = []
        self.message_ids: list[str] = []
        self.parked = asyncio.Event()  # its stream sent queue_empty: rows are pushed

    async def listen(self, expected: set[str]) -> None:
        header = self.device.authorization("GET", WEBSOCKET, b"")
        url = "ws" + self.node.url.removeprefix("http") + WEBSOCKET
        async with websockets.connect(url, additional_headers={"authorization": header}) as ws:
            while not expected <= set(self.message_ids):
                frame = json.loads(await ws.recv())
                if frame["type"] == "queue_empty":
                    self.parked.set()
                if frame["type"] != "envelope":
                    continue
                envelope = frame["envelope"]
                self.queue_ids.append(envelope["id"])
                self.message_ids.append(envelope["message_id"])
                await ws.send(json.dumps({"type": "ack", "ids": [envelope["id"]]}))


async def test_one_connection_never_carries_a_row_twice(nodes: list[ServerProcess]) -> None:
    clients = [httpx.AsyncClient(base_url=node.url, timeout=30) for node in nodes]
    listening: list[asyncio.Task[None]] = []
    try:
        senders = [await BareDevice().register(clients[i % 2]) for i in range(SENDERS)]
        receivers = [
            Receiver(await BareDevice(app="photos").register(clients[i % 2]), nodes[i % 2])
            for i in range(RECEIVERS)
        ]
        bodies = {
            r.device.address: [
                BareDevice.send_body(r.device.address) for _ in range(SENDERS * PER_PAIR)
            ]
            for r in receivers
        }
        expected = {a: {str(b["message_id"]) for b in bs} for a, bs in bodies.items()}
        listening += [asyncio.create_task(r.listen(expected[r.device.address])) for r in receivers]
        parked = asyncio.gather(*(r.parked.wait() for r in receivers))
        await asyncio.wait_for(parked, DELIVERY_TIMEOUT_S)
        room = asyncio.Semaphore(SENDS_AT_ONCE)

        async def send(n: int, body: dict[str, object]) -> None:
            # Each sender alternates nodes, so both nodes store rows for every receiver.
            async with room:
                sender, node = senders[n % SENDERS], (n // SENDERS) % 2
                response = await sender.call(clients[node], "POST", MESSAGES, body)
                assert response.status_code == 200, response.text

        await asyncio.gather(
            *(send(n, body) for batch in bodies.values() for n, body in enumerate(batch))
        )
        await asyncio.wait_for(asyncio.gather(*listening), DELIVERY_TIMEOUT_S)
    finally:
        for task in listening:
            task.cancel()
        for client in clients:
            await client.aclose()
    for receiver in receivers:
        assert len(receiver.queue_ids) == len(set(receiver.queue_ids)), "a row was sent twice"
        assert len(receiver.message_ids) == len(set(receiver.message_ids))
        assert set(receiver.message_ids) == expected[receiver.device.address]
