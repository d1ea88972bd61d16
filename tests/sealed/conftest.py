"""Clients of one real server whose database the sealed-sender tests read (on either
engine, through tests/support/server_db.py)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from tests.support import server_db
from tests.support.live_server import LiveServer

MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture(scope="package")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("sealed-relay"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def make_client(relay: LiveServer, tmp_path: Path) -> AsyncIterator[MakeClient]:
    made: list[Client] = []

    async def make(name: str, app: str = "chat") -> Client:
        handle = f"{name}-{secrets.token_hex(3)}"
        client = await Client.create_account(tmp_path / f"{handle}@{app}", relay.url, app, handle)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def contacts(make_client: MakeClient) -> tuple[Client, Client]:
    """Two people who have written to each other once, so each holds the other's
    profile key: from now on their messages are sealed."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "hello bob")  # unsealed: alice is a stranger to bob
    assert [m.text for m in await bob.fetch()] == ["hello bob"]
    await bob.send(alice.address, "hello alice")  # sealed: bob holds alice's profile key
    assert [m.text for m in await alice.fetch()] == ["hello alice"]
    return alice, bob


def queued_rows(relay: LiveServer, recipient: Client) -> list[dict[str, Any]]:
    """The server's stored rows queued for ``recipient``'s device."""
    handle, app = recipient.address.split("@")
    return server_db.rows(
        relay,
        "SELECT q.* FROM queued_messages q JOIN devices d ON d.id = q.recipient_device_pk "
        "JOIN accounts a ON a.id = d.account_id "
        "WHERE a.handle = :handle AND a.app = :app AND d.device_id = :device ORDER BY q.id",
        handle=handle,
        app=app,
        device=recipient.device_id,
    )
