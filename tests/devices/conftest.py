"""Fixtures for linked devices: a real server, accounts, and linking a second device."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from sottovoce.client import Client
from tests.support.live_server import LiveServer


class MakeClient(Protocol):
    async def __call__(self, name: str, app: str = "chat") -> Client: ...


class LinkDevice(Protocol):
    async def __call__(self, existing: Client) -> Client: ...


@pytest.fixture(scope="package")
def devices_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("devices-relay"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def made(tmp_path: Path) -> AsyncIterator[list[Client]]:
    clients: list[Client] = []
    yield clients
    for client in clients:
        await client.close()


@pytest.fixture
def make_client(devices_server: LiveServer, tmp_path: Path, made: list[Client]) -> MakeClient:
    async def make(name: str, app: str = "chat") -> Client:
        handle = f"{name}-{secrets.token_hex(3)}"
        client = await Client.create_account(
            tmp_path / f"{handle}@{app}", devices_server.url, app, handle
        )
        made.append(client)
        return client

    return make


async def link(existing: Client, profile: Path, server_url: str) -> Client:
    """Link a new device to ``existing``'s account the way two people's screens would:
    the new device shows its code, the existing one accepts it."""
    pending = await Client.begin_link(server_url)
    finishing = asyncio.create_task(Client.finish_link(pending, profile, server_url))
    await existing.accept_link(pending.code_text)
    return await finishing


@pytest.fixture
def link_device(devices_server: LiveServer, tmp_path: Path, made: list[Client]) -> LinkDevice:
    async def do(existing: Client) -> Client:
        profile = tmp_path / f"linked-{secrets.token_hex(3)}"
        client = await link(existing, profile, devices_server.url)
        made.append(client)
        return client

    return do
