"""SDK fixtures: clients with fresh handles on the real server process."""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import pytest

from sottovoce.client import Client, ReceivedMessage
from tests.support.live_server import LiveServer
from tests.support.people import FAST_ARGON2, running


class MakeClient(Protocol):
    def __call__(
        self,
        name: str,
        app: str = "chat",
        *,
        passphrase: str | None = None,
        server: LiveServer | None = None,
    ) -> Awaitable[Client]: ...


@pytest.fixture(scope="package")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for every SDK test that does not stop it; handles are unique."""
    yield from running(LiveServer(tmp_path_factory.mktemp("sdk-relay")))


@pytest.fixture
async def make_client(sdk_server: LiveServer, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """Registers ``name-<random>@app`` (profile in ``tmp_path/<address>``); closes
    every client it made when the test ends."""
    made: list[Client] = []

    async def make(
        name: str,
        app: str = "chat",
        *,
        passphrase: str | None = None,
        server: LiveServer | None = None,
    ) -> Client:
        handle = f"{name}-{secrets.token_hex(3)}"
        client = await Client.create_account(
            tmp_path / f"{handle}@{app}",
            (server or sdk_server).url,
            app,
            handle,
            passphrase=passphrase,
            argon2=FAST_ARGON2 if passphrase is not None else None,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def profile_of(client: Client) -> Path:
    return client._store.directory


async def reopen(client: Client, passphrase: str | None = None) -> Client:
    """Close ``client`` and open its profile again, as a restarted app would."""
    await client.close()
    return await Client.open(profile_of(client), passphrase=passphrase)


async def texts(client: Client) -> list[str]:
    return [m.text for m in await client.fetch()]


@asynccontextmanager
async def listening(client: Client) -> AsyncIterator[AsyncGenerator[ReceivedMessage, None]]:
    """``client.listen()``, closed (and its WebSocket with it) when the block ends."""
    stream = client.listen()
    assert isinstance(stream, AsyncGenerator)
    try:
        yield stream
    finally:
        await stream.aclose()
