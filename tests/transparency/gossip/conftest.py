"""The split-view server, started as a real process, and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sottovoce.client import Client
from sottovoce.crypto.signing import SigningKey
from tests.support.live_server import LiveServer
from tests.support.people import MakeClient, client_maker, running


class SplitViewProcess(LiveServer):
    """``python -m tests.transparency.gossip.split_view_server``: the real server behind
    a wrapper holding the log key (``log.key`` beside the database); honest until armed."""

    module = "tests.transparency.gossip.split_view_server"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.key_file = directory / "log.key"
        self.key_file.write_bytes(SigningKey.generate().private_bytes())

    @property
    def log_key(self) -> bytes:
        return SigningKey.from_bytes(self.key_file.read_bytes()).public

    def extra_args(self) -> list[str]:
        return ["--log-key-file", str(self.key_file)]

    def split(self, *, victim: str, target: str) -> None:
        """From now on, show ``victim`` the log in which ``target``'s key is the server's."""
        body = {"victim": victim, "target": target}
        response = httpx.post(f"{self.url}/split-view/arm", json=body, timeout=10)
        assert response.status_code == 200, response.text

    def heal(self) -> None:
        self.split(victim="", target="")


@pytest.fixture(scope="package")
def split_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitViewProcess]:
    yield from running(SplitViewProcess(tmp_path_factory.mktemp("split-view")))


@pytest.fixture
async def clients(split_server: SplitViewProcess) -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    split_server.heal()
    for client in made:
        await client.close()


@pytest.fixture
def make_client(
    split_server: SplitViewProcess, tmp_path: Path, clients: list[Client]
) -> MakeClient:
    return client_maker(split_server.url, tmp_path, clients)
