"""On nodes that share PostgreSQL and Redis, a device linked or a block reported
through one node holds at once for the next send through the other: a node among
others keeps no account, device list or block it read (storage.kept_reads), since
the other node's writes never pass through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.server.process import ServerProcess
from tests.support.device import MESSAGES, BareDevice, assert_problem, b64
from tests.support.nodes import two_nodes
from tests.support.services import PostgresCluster, RedisServer


@pytest.fixture
async def clients(
    running_services: tuple[PostgresCluster, RedisServer], tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    with two_nodes(*running_services, tmp_path, migrated=True) as (a, b):
        async with node_client(a) as on_a, node_client(b) as on_b:
            yield on_a, on_b


def node_client(node: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=node.url, timeout=30)


async def sent(http: httpx.AsyncClient, sender: BareDevice, body: dict[str, object]) -> int:
    answer = await sender.call(http, "POST", MESSAGES, body)
    assert answer.status_code == 200, answer.text
    stored: int = answer.json()["stored"]
    return stored


async def test_a_device_linked_through_one_node_must_be_named_through_the_other(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    on_a, on_b = clients
    alice = await BareDevice().register(on_b)
    bob = await BareDevice().register(on_a)
    assert await sent(on_a, bob, BareDevice.send_body(alice.address)) == 1
    linked = DeviceList(
        alice.address,
        2,
        (DeviceEntry(1, alice.identity, 0), DeviceEntry(2, BareDevice().identity, 0)),
    )
    published = await alice.call(
        on_b,
        "PUT",
        "/v1/accounts/self/device-list",
        {"device_list": b64(linked.sign(alice.account_key))},
    )
    assert published.status_code == 200, published.text
    stale = await bob.call(on_a, "POST", MESSAGES, BareDevice.send_body(alice.address))
    problem = assert_problem(stale, 409, "stale-devices")
    assert problem["missing"] == [2]
    assert await sent(on_a, bob, BareDevice.send_body(alice.address, (1, 2))) == 2


async def test_a_block_reported_through_one_node_drops_sends_through_the_other(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    on_a, on_b = clients
    victim = await BareDevice().register(on_b)
    pest = await BareDevice().register(on_a)
    assert await sent(on_a, pest, BareDevice.send_body(victim.address)) == 1
    blocked = await victim.call(on_b, "PUT", f"/v1/blocks/{pest.address}")
    assert blocked.status_code == 200, blocked.text
    assert await sent(on_a, pest, BareDevice.send_body(victim.address)) == 1  # as if stored
    page = await victim.call(on_b, "GET", f"{MESSAGES}?limit=10")
    assert page.status_code == 200, page.text
    assert len(page.json()["messages"]) == 1  # only the one sent before the block
