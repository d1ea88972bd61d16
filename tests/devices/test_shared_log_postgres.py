"""Two real nodes on one PostgreSQL database append to one transparency log at once.

Accounts are created and device lists changed on both nodes concurrently: every
request succeeds (the database serialises appends), both nodes serve the same
entries and one chain of heads, each node's heads add up from the other's
entries, heads from different nodes are consistent through either node's proofs,
and every lookup proof the clients check (they refuse any that fails) verifies.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sottovoce.client import Client
from sottovoce.protocol.log_follower import LogFollower
from sottovoce.protocol.public.merkle import ConsistencyProof
from sottovoce.protocol.public.tree_head import (
    SignedTreeHead,
    parse_signed_tree_head,
    verify_consistent_heads,
)
from sottovoce.server.encoding import b64decode
from sottovoce.server.process import ServerProcess
from tests.support.nodes import two_nodes
from tests.support.people import link
from tests.support.services import PostgresCluster, RedisServer

ACCOUNTS = 12


@pytest.fixture
def nodes(
    running_services: tuple[PostgresCluster, RedisServer], tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with two_nodes(*running_services, tmp_path) as pair:
        yield pair


async def _get(http: httpx.AsyncClient, path: str) -> Any:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def _head(http: httpx.AsyncClient) -> tuple[bytes, SignedTreeHead]:
    answer = await _get(http, "/v1/transparency/head")
    log_key = _unb64(answer["log_key"])
    return log_key, parse_signed_tree_head(_unb64(answer["head"]), log_key)


def _unb64(text: str) -> bytes:
    return b64decode(text, "test")


async def test_both_nodes_append_to_one_log(
    nodes: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    a, b = nodes
    node_of = [a if i % 2 else b for i in range(ACCOUNTS)]
    clients: list[Client] = []
    try:
        # Registrations race on both nodes at once.
        clients = list(
            await asyncio.gather(
                *(
                    Client.create_account(
                        tmp_path / f"p{i}", node_of[i].url, "chat", f"u{i}-{secrets.token_hex(2)}"
                    )
                    for i in range(ACCOUNTS)
                )
            )
        )
        # Device-list changes on both nodes while more accounts are created on both.
        linking = [link(clients[i], tmp_path / f"linked{i}", node_of[i].url) for i in range(4)]
        creating = [
            Client.create_account(
                tmp_path / f"q{i}", node_of[i].url, "photos", f"v{i}-{secrets.token_hex(2)}"
            )
            for i in range(4)
        ]
        results = await asyncio.gather(*linking, *creating)
        linked = list(results[:4])
        clients += linked + list(results[4:])
        await asyncio.gather(*(clients[i].remove_device(2) for i in range(2)))
        # Lookups through both nodes: each client checks the proofs it is served.
        everyone = clients[:ACCOUNTS]
        await asyncio.gather(
            *(
                sender.send(recipient.address, f"from {sender.address}")
                for sender, recipient in zip(everyone, everyone[1:] + everyone[:1], strict=True)
            )
        )
        for client in clients:
            assert client.security_alerts() == []

        async with (
            httpx.AsyncClient(base_url=a.url, timeout=30) as http_a,
            httpx.AsyncClient(base_url=b.url, timeout=30) as http_b,
        ):
            key_a, head_a = await _head(http_a)
            key_b, head_b = await _head(http_b)
            assert key_a == key_b
            # Each account: a key entry and its first list; four links, two removals.
            assert max(head_a.tree_size, head_b.tree_size) >= 2 * (ACCOUNTS + 4) + 4 + 2
            size = max(head_a.tree_size, head_b.tree_size)
            entries = {}
            for name, http in (("a", http_a), ("b", http_b)):
                answer = await _get(http, f"/v1/transparency/entries?start=0&end={size}")
                entries[name] = [_unb64(e) for e in answer["entries"]]
            assert entries["a"] == entries["b"]  # one log, not two
            for head in (head_a, head_b):
                follower = LogFollower()
                follower.extend(entries["a"][: head.tree_size])
                assert follower.root() == head.root_hash
            # Every epoch either node serves is the same signed head.
            for epoch in range(1, max(head_a.epoch, head_b.epoch) + 1):
                got = [
                    (await http.get(f"/v1/transparency/head?epoch={epoch}")).json()["head"]
                    for http in (http_a, http_b)
                ]
                assert got[0] == got[1]
            small, large = sorted((head_a, head_b), key=lambda h: h.tree_size)
            for http in (http_a, http_b):
                answer = await _get(
                    http,
                    "/v1/transparency/consistency"
                    f"?first={small.tree_size}&second={large.tree_size}",
                )
                verify_consistent_heads(
                    small, large, ConsistencyProof.from_bytes(_unb64(answer["proof"]))
                )
    finally:
        for client in clients:
            await client.close()
