"""Clients on the real server process, and helpers the client tests share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

import pytest

from sottovoce.client import Client, ReceivedMessage
from sottovoce.crypto.password import Argon2Parameters
from tests.support.live_server import LiveServer

# Argon2id costs low enough for a test to unlock in milliseconds; passed to the
# SDK explicitly (the production default stays RFC 9106's 64 MiB, 3 passes).
FAST_ARGON2 = Argon2Parameters(memory_kib=8 * 1024, iterations=1, lanes=1)


class MakeClient(Protocol):
    def __call__(
        self, handle: str, app: str = "chat", *, passphrase: str | None = None
    ) -> Awaitable[Client]: ...


def profile_of(tmp_path: Path, address: str) -> Path:
    return tmp_path / "profiles" / address


@pytest.fixture
async def make_client(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """Creates accounts on the live server; closes every client it made at the end."""
    made: list[Client] = []

    async def make(handle: str, app: str = "chat", *, passphrase: str | None = None) -> Client:
        client = await Client.create_account(
            profile_of(tmp_path, f"{handle}@{app}"),
            live_server.url,
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


async def collect(
    stream: AsyncIterator[ReceivedMessage], count: int, timeout_s: float = 20.0
) -> list[ReceivedMessage]:
    """The first ``count`` messages of a listen() stream, or TimeoutError."""

    async def take() -> list[ReceivedMessage]:
        taken: list[ReceivedMessage] = []
        async for message in stream:
            taken.append(message)
            if len(taken) == count:
                break
        return taken

    return await asyncio.wait_for(take(), timeout_s)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(0.02)
