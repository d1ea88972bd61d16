"""SDK fixtures: clients with fresh handles on the real server process."""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import pytest

from sottovoce.client import Client, ReceivedMessage
from sottovoce.crypto.password import Argon2Parameters
from tests.support.live_server import LiveServer

# RFC 9106's minimum-ish costs: unlocking takes milliseconds instead of a second.
FAST_ARGON2 = Argon2Parameters(memory_kib=8192, iterations=1, lanes=1)
WAIT_S = 20.0


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
    server = LiveServer(tmp_path_factory.mktemp("sdk-relay"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


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


async def take(
    stream: AsyncIterator[ReceivedMessage], count: int, timeout_s: float = WAIT_S
) -> list[ReceivedMessage]:
    """The next ``count`` messages of a ``listen()`` stream (TimeoutError otherwise)."""

    async def collect() -> list[ReceivedMessage]:
        taken = []
        async for message in stream:
            taken.append(message)
            if len(taken) == count:
                break
        return taken

    return await asyncio.wait_for(collect(), timeout_s)


async def eventually(check: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    """Wait until ``check()`` (which may be a coroutine function) is true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
