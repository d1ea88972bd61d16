"""SDK fixtures for the safety tests: clients on one real server process that
serves an app marking minors (``kids``) beside two that do not."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from sottovoce.client import Client
from tests.safety.conftest import APPS
from tests.support.live_server import LiveServer


class MakeClient(Protocol):
    def __call__(
        self, name: str, app: str = "chat", *, minor: bool = False
    ) -> Awaitable[Client]: ...


@pytest.fixture(scope="module")
def safety_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("safety-relay"), apps=APPS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def make_client(safety_server: LiveServer, tmp_path: Path) -> AsyncIterator[MakeClient]:
    made: list[Client] = []

    async def make(name: str, app: str = "chat", *, minor: bool = False) -> Client:
        handle = f"{name}-{secrets.token_hex(3)}"
        client = await Client.create_account(
            tmp_path / f"{handle}@{app}", safety_server.url, app, handle, minor=minor
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
