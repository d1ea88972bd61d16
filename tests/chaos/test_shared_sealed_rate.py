"""The sealed-sender recipient bucket is one bucket across nodes (server.shared_limits):
a sender flooding one account with sealed messages cannot multiply the limit by
spreading its posts over the nodes behind the load balancer."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sottovoce.server import limits, shared_limits
from sottovoce.server.process import ServerProcess
from tests.support.device import BareDevice
from tests.support.nodes import two_nodes
from tests.support.services import PostgresCluster, RedisServer

SEALED = "/v1/messages/sealed"
ACCESS_KEY = "/v1/accounts/self/unidentified-access"
# Posts to node B once node A has emptied the bucket: with one bucket per node,
# all of them would be accepted.
PROBES = 40


@pytest.fixture
def nodes(
    running_services: tuple[PostgresCluster, RedisServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with two_nodes(*running_services, tmp_path_factory.mktemp("cluster")) as pair:
        yield pair


@pytest.fixture
async def clients(
    nodes: tuple[ServerProcess, ServerProcess],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=nodes[0].url, timeout=30) as a,
        httpx.AsyncClient(base_url=nodes[1].url, timeout=30) as b,
    ):
        yield a, b


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _sealed_posts(
    http: httpx.AsyncClient, recipient: BareDevice, access_key: bytes, count: int
) -> list[int]:
    """``count`` sealed posts to ``recipient`` at once; their status codes."""

    async def post() -> int:
        body = {
            "message_id": secrets.token_hex(8),
            "recipient": recipient.address,
            "commitment": _b64(bytes(32)),
            "envelopes": [{"device_id": 1, "type": "sealed", "body": _b64(b"x")}],
        }
        headers = {"unidentified-access-key": _b64(access_key)}
        return (await http.post(SEALED, json=body, headers=headers)).status_code

    return list(await asyncio.gather(*(post() for _ in range(count))))


async def test_a_recipient_bucket_emptied_on_one_node_is_empty_on_the_other(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    http_a, http_b = clients
    bob = await BareDevice().register(http_a)
    access_key = secrets.token_bytes(16)
    answer = await bob.call(http_a, "PUT", ACCESS_KEY, {"access_key": _b64(access_key)})
    assert answer.status_code == 200, answer.text
    # Both nodes reach Redis (a node that just failed answers alone for a while).
    await asyncio.sleep(shared_limits.RETRY_AFTER_S)

    statuses: list[int] = []
    while 429 not in statuses:  # the burst, and what refilled meanwhile, on node A
        started = time.monotonic()
        statuses = await _sealed_posts(http_a, bob, access_key, 20)
        assert set(statuses) <= {200, 429}, statuses
    on_b = await _sealed_posts(http_b, bob, access_key, PROBES)
    elapsed = time.monotonic() - started
    assert set(on_b) <= {200, 429}, on_b
    # The bucket was empty at some moment of node A's last batch (it refused one):
    # node B can only have handed out what refilled since that batch began.
    refilled = limits.SEALED_SENDS_PER_SECOND_PER_RECIPIENT * elapsed
    assert on_b.count(200) <= 1 + refilled, (on_b.count(200), elapsed)
