"""People for tests: accounts on a live server, another device linked to one of them,
and the two-person conversation many features start from. Each fixture built on
these closes every client it made when its test ends."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from sottovoce.client import Client
from sottovoce.crypto.password import Argon2Parameters
from tests.support.live_server import LiveServer

# Argon2id cheap enough for a test to derive a passphrase key in milliseconds; real
# profiles use the SDK's defaults.
FAST_ARGON2 = Argon2Parameters(memory_kib=8192, iterations=1, lanes=1)

Server = TypeVar("Server", bound=LiveServer)


class MakeClient(Protocol):
    async def __call__(self, name: str, app: str = "chat") -> Client: ...


class LinkDevice(Protocol):
    async def __call__(self, existing: Client) -> Client: ...


def running(server: Server) -> Iterator[Server]:
    """``server`` started for as long as the fixture that yields from this lasts."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client_maker(server_url: str, directory: Path, made: list[Client]) -> MakeClient:
    """Registers ``name-<random>@app`` (profile in ``directory/<address>``) and adds it
    to ``made``, for the fixture to close."""

    async def make(name: str, app: str = "chat") -> Client:
        handle = f"{name}-{secrets.token_hex(3)}"
        client = await Client.create_account(directory / f"{handle}@{app}", server_url, app, handle)
        made.append(client)
        return client

    return make


async def link(
    existing: Client, profile: Path, server_url: str, *, passphrase: str | None = None
) -> Client:
    """Link a new device to ``existing``'s account the way two people's screens would:
    the new device shows its code, the existing one accepts it. With ``passphrase``
    the new profile is sealed with it (cheap Argon2 costs), as the app's are."""
    pending = await Client.begin_link(server_url)
    sealing = {} if passphrase is None else {"passphrase": passphrase, "argon2": FAST_ARGON2}
    finishing = asyncio.create_task(Client.finish_link(pending, profile, server_url, **sealing))
    await existing.accept_link(pending.code_text)
    return await finishing


def device_linker(server_url: str, directory: Path, made: list[Client]) -> LinkDevice:
    """Links a new device (profile ``directory/linked-<random>``) and adds it to ``made``."""

    async def do(existing: Client) -> Client:
        client = await link(existing, directory / f"linked-{secrets.token_hex(3)}", server_url)
        made.append(client)
        return client

    return do


@asynccontextmanager
async def two_people(
    server_url: str, directory: Path, passphrases: tuple[str, str] = ("p", "p")
) -> AsyncIterator[tuple[Client, Client]]:
    """``alice-<tag>@chat`` and ``bob-<tag>@photos`` (profiles ``directory/a`` and
    ``directory/b``, passphrase-protected), who have not written to each other yet."""
    tag = secrets.token_hex(3)
    alice = await Client.create_account(
        directory / "a", server_url, "chat", f"alice-{tag}", passphrase=passphrases[0],
        argon2=FAST_ARGON2,
    )  # fmt: skip
    try:
        bob = await Client.create_account(
            directory / "b", server_url, "photos", f"bob-{tag}", passphrase=passphrases[1],
            argon2=FAST_ARGON2,
        )  # fmt: skip
        try:
            yield alice, bob
        finally:
            await bob.close()
    finally:
        await alice.close()
