"""Relay fixtures: the app in-process (fast logic) and the real server process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.in_process import in_process
from tests.support.live_server import LiveServer


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process with the production limits and a fresh SQLite file."""
    async with in_process(tmp_path / "relay.db") as relay:
        yield relay.http


@pytest.fixture(scope="package")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server process for the tests that do not stop it (fresh handles keep
    them apart); tests that restart or kill a server use ``live_server``."""
    server = LiveServer(tmp_path_factory.mktemp("shared-relay"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def live_http(shared_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shared_server.url, timeout=30) as http:
        yield http
