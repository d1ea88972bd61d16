"""The abuse controls on many nodes: two real server processes on one PostgreSQL
database and one Redis (docs/safety.md, "Many nodes").

- The daily allowances (strangers written to, groups created) are one count
  across the nodes, not one per node.
- A suspension closes the suspended account's open WebSocket at once, with close
  code 4403 and reason ``account-suspended``, on whichever node holds it: made
  automatically by a node (reported blocks) or by the operator's desk.
- On one node without Redis, the in-process fan-out does the same.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection

from sottovoce.server import limits
from sottovoce.server.abuse.moderation import Moderation
from sottovoce.server.abuse.shared_counts import SharedDailyCounts
from sottovoce.server.process import ServerProcess
from sottovoce.server.routes.websocket import ACCOUNT_SUSPENDED, SUSPENDED_REASON
from sottovoce.server.shared_limits import deployment_namespace
from tests.support.device import MESSAGES, WEBSOCKET, BareDevice
from tests.support.nodes import two_nodes
from tests.support.services import PostgresCluster, RedisServer

# Far below limits.SUSPENSION_RECHECK_S: a close this soon came through the fan-out.
CLOSE_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def nodes(
    running_services: tuple[PostgresCluster, RedisServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, ServerProcess, str, str]]:
    with two_nodes(*running_services, tmp_path_factory.mktemp("cluster")) as (a, b):
        assert a.db_url is not None and a.redis_url is not None
        yield a, b, a.db_url, a.redis_url


@pytest.fixture
async def https(
    nodes: tuple[ServerProcess, ServerProcess, str, str],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=nodes[0].url, timeout=30) as a,
        httpx.AsyncClient(base_url=nodes[1].url, timeout=30) as b,
    ):
        yield a, b


async def register(http: httpx.AsyncClient, count: int) -> list[BareDevice]:
    # Accounts are made on one node: the transparency log takes appends from one.
    return [await BareDevice().register(http) for _ in range(count)]


async def send(http: httpx.AsyncClient, sender: BareDevice, to: BareDevice) -> httpx.Response:
    return await sender.call(http, "POST", MESSAGES, BareDevice.send_body(to.address))


def connect(node: ServerProcess, device: BareDevice) -> Any:
    header = device.authorization("GET", WEBSOCKET, b"")
    url = "ws" + node.url.removeprefix("http") + WEBSOCKET
    return websockets.connect(url, additional_headers={"authorization": header})


async def until_queue_empty(ws: ClientConnection) -> None:
    while '"queue_empty"' not in await asyncio.wait_for(ws.recv(), CLOSE_TIMEOUT_S):
        pass


async def closed_for_suspension(ws: ClientConnection) -> None:
    """The server closes the socket, with 4403 ``account-suspended``, soon."""
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), CLOSE_TIMEOUT_S)
    assert ws.close_code == ACCOUNT_SUSPENDED
    assert ws.close_reason == SUSPENDED_REASON


async def test_the_daily_stranger_allowance_holds_across_nodes(
    https: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    allowed = limits.NEW_RECIPIENTS_PER_DAY_NEW_ACCOUNT
    spammer, *strangers = await register(https[0], 1 + allowed + 1)
    # Alternating nodes: each node alone saw only half of the allowance.
    for i, stranger in enumerate(strangers[:-1]):
        assert (await send(https[i % 2], spammer, stranger)).status_code == 200
    # Someone already reached today (through the other node) is no new stranger.
    assert (await send(https[1], spammer, strangers[0])).status_code == 200
    for http in https:
        refused = await send(http, spammer, strangers[-1])
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"] == "too-many-new-recipients"


async def test_the_daily_group_allowance_holds_across_nodes(
    https: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    (raider,) = await register(https[0], 1)
    codes = []
    for i in range(limits.GROUPS_PER_DAY_NEW_ACCOUNT + 1):
        group_id = base64.b64encode(secrets.token_bytes(32)).decode()
        answer = await raider.call(https[i % 2], "POST", "/v1/groups", {"group_id": group_id})
        codes.append(answer.status_code)
    assert codes == [201] * limits.GROUPS_PER_DAY_NEW_ACCOUNT + [429]


async def test_reported_blocks_on_one_node_close_the_socket_held_by_the_other(
    nodes: tuple[ServerProcess, ServerProcess, str, str],
    https: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    pest, *blockers = await register(https[0], limits.SUSPEND_AFTER_REPORTERS + 1)
    async with connect(nodes[0], pest) as ws:
        await until_queue_empty(ws)
        for blocker in blockers:
            answer = await blocker.call(https[1], "PUT", f"/v1/blocks/{pest.address}")
            assert answer.status_code == 200, answer.text
        await closed_for_suspension(ws)
    # And it cannot come back: the upgrade itself is refused with 403.
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with connect(nodes[0], pest):
            pass
    assert refused.value.response.status_code == 403


async def test_an_operators_suspension_closes_the_socket_on_any_node(
    nodes: tuple[ServerProcess, ServerProcess, str, str],
    https: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, node_b, db_url, redis_url = nodes
    (groomer,) = await register(https[0], 1)
    async with connect(node_b, groomer) as ws:
        await until_queue_empty(ws)
        desk = await Moderation.open(db_url, redis_url)
        try:
            await desk.act(groomer.address, "suspend", "verified reports of grooming")
        finally:
            await desk.close()
        await closed_for_suspension(ws)


async def test_a_warning_leaves_the_socket_open(
    nodes: tuple[ServerProcess, ServerProcess, str, str],
    https: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    node_a, _, db_url, redis_url = nodes
    account, friend = await register(https[0], 2)
    async with connect(node_a, account) as ws:
        await until_queue_empty(ws)
        desk = await Moderation.open(db_url, redis_url)
        try:
            await desk.act(account.address, "warn", "first spam report")
        finally:
            await desk.close()
        assert (await send(https[1], friend, account)).status_code == 200
        # Still open: the message sent through the other node arrives on it.
        while '"envelope"' not in await asyncio.wait_for(ws.recv(), CLOSE_TIMEOUT_S):
            pass


async def test_on_one_node_without_redis_a_suspension_closes_the_socket(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as node:
        async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
            pest, *blockers = await register(http, limits.SUSPEND_AFTER_REPORTERS + 1)
            async with connect(node, pest) as ws:
                await until_queue_empty(ws)
                for blocker in blockers:
                    await blocker.call(http, "PUT", f"/v1/blocks/{pest.address}")
                await closed_for_suspension(ws)


async def test_deployments_sharing_one_redis_keep_their_counts_apart(
    running_services: tuple[PostgresCluster, RedisServer],
) -> None:
    """Account ids are per database; the deployment's key keeps them apart."""
    client = Redis.from_url(running_services[1].url)
    try:
        ours = SharedDailyCounts(client, deployment_namespace(secrets.token_bytes(32)))
        theirs = SharedDailyCounts(client, deployment_namespace(secrets.token_bytes(32)))
        day = int(time.time() // 86_400)
        assert await ours.admit_recipient(day, 1, 7, 1) is True
        assert await ours.admit_recipient(day, 1, 8, 1) is False
        assert await theirs.admit_recipient(day, 1, 8, 1) is True
        assert await ours.admit_group(day, 1, 1) is True
        assert await ours.admit_group(day, 1, 1) is False
        assert await theirs.admit_group(day, 1, 1) is True
    finally:
        await client.aclose()
