"""The malicious server, started as a real process, and clients of it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from sottovoce.client import Client
from sottovoce.crypto.signing import SigningKey
from tests.devices.conftest import link
from tests.support.live_server import LiveServer


class GhostServerProcess(LiveServer):
    """``python -m tests.ghost.malicious_server``: the real server behind a liar that
    holds the operator's log key (written to ``log.key`` beside the database)."""

    module = "tests.ghost.malicious_server"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.key_file = directory / "log.key"
        self.key_file.write_bytes(SigningKey.generate().private_bytes())

    def extra_args(self) -> list[str]:
        return ["--log-key-file", str(self.key_file)]

    def arm(self, attack: str, *, target: str, victim: str = "", **extra: object) -> None:
        body = {"attack": attack, "target": target, "victim": victim, **extra}
        response = httpx.post(f"{self.url}/ghost/attack", json=body, timeout=10)
        assert response.status_code == 200, response.text

    def disarm(self) -> None:
        self.arm("", target="")


class MakeClient(Protocol):
    async def __call__(self, name: str, app: str = "chat") -> Client: ...


class LinkDevice(Protocol):
    async def __call__(self, existing: Client) -> Client: ...


@pytest.fixture(scope="package")
def ghost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GhostServerProcess]:
    server = GhostServerProcess(tmp_path_factory.mktemp("ghost-relay"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def clients(ghost_server: GhostServerProcess) -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    ghost_server.disarm()
    for client in made:
        await client.close()


@pytest.fixture
def make_client(
    ghost_server: GhostServerProcess, tmp_path: Path, clients: list[Client]
) -> MakeClient:
    async def make(name: str, app: str = "chat") -> Client:
        handle = f"{name}-{secrets.token_hex(3)}"
        client = await Client.create_account(
            tmp_path / f"{handle}@{app}", ghost_server.url, app, handle
        )
        clients.append(client)
        return client

    return make


@pytest.fixture
def link_device(
    ghost_server: GhostServerProcess, tmp_path: Path, clients: list[Client]
) -> LinkDevice:
    async def do(existing: Client) -> Client:
        client = await link(existing, tmp_path / f"linked-{secrets.token_hex(3)}", ghost_server.url)
        clients.append(client)
        return client

    return do
