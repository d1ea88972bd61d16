"""Fixtures for linked devices: a real server, accounts, and linking a second device."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from tests.support.live_server import LiveServer
from tests.support.people import LinkDevice, MakeClient, client_maker, device_linker, running


@pytest.fixture(scope="package")
def devices_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from running(LiveServer(tmp_path_factory.mktemp("devices-relay")))


@pytest.fixture
async def made() -> AsyncIterator[list[Client]]:
    clients: list[Client] = []
    yield clients
    for client in clients:
        await client.close()


@pytest.fixture
def make_client(devices_server: LiveServer, tmp_path: Path, made: list[Client]) -> MakeClient:
    return client_maker(devices_server.url, tmp_path, made)


@pytest.fixture
def link_device(devices_server: LiveServer, tmp_path: Path, made: list[Client]) -> LinkDevice:
    return device_linker(devices_server.url, tmp_path, made)
