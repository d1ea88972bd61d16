"""The malicious server, started as a real process, and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sottovoce.client import Client
from sottovoce.crypto.signing import SigningKey
from tests.support.live_server import LiveServer
from tests.support.people import LinkDevice, MakeClient, client_maker, device_linker, running


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


@pytest.fixture(scope="package")
def ghost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GhostServerProcess]:
    yield from running(GhostServerProcess(tmp_path_factory.mktemp("ghost-relay")))


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
    return client_maker(ghost_server.url, tmp_path, clients)


@pytest.fixture
def link_device(
    ghost_server: GhostServerProcess, tmp_path: Path, clients: list[Client]
) -> LinkDevice:
    return device_linker(ghost_server.url, tmp_path, clients)
