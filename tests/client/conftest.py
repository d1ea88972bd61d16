"""Clients on the real server process, and helpers the client tests share."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import pytest

from sottovoce.client import Client
from tests.support.live_server import LiveServer
from tests.support.people import FAST_ARGON2


class MakeClient(Protocol):
    def __call__(
        self, handle: str, app: str = "chat", *, passphrase: str | None = None
    ) -> Awaitable[Client]: ...


def profile_of(tmp_path: Path, address: str) -> Path:
    return tmp_path / "profiles" / address


async def _clients(server: LiveServer, tmp_path: Path) -> AsyncIterator[MakeClient]:
    made: list[Client] = []

    async def make(handle: str, app: str = "chat", *, passphrase: str | None = None) -> Client:
        unique = f"{handle}-{secrets.token_hex(3)}"
        client = await Client.create_account(
            profile_of(tmp_path, f"{unique}@{app}"),
            server.url,
            app,
            unique,
            passphrase=passphrase,
            argon2=FAST_ARGON2 if passphrase is not None else None,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def make_client(live_server_module: LiveServer, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """Creates ``<handle>-<random>@<app>`` on the module's one server (tests meet only
    the accounts they made; compare with ``client.address``); closes every client it
    made at the end."""
    async for make in _clients(live_server_module, tmp_path):
        yield make


@pytest.fixture
async def make_client_alone(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """:func:`make_client` on this test's own server (``live_server``), for the tests
    that stop, restart or take the server away."""
    async for make in _clients(live_server, tmp_path):
        yield make
