"""Clients on the real server process, and helpers the client tests share."""

from __future__ import annotations

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
