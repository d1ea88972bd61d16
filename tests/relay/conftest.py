"""Relay fixtures: the app in-process (fast logic) and the real server process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from sottovoce.server.app import create_app
from sottovoce.server.settings import Limits, Settings
from tests.support import services
from tests.support.live_server import LiveServer


@asynccontextmanager
async def in_process(db: Path, limits: Limits | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app with its lifespan run (migrations, storage), behind an httpx client.

    ``raise_app_exceptions=False``: a crash inside the app must show up as the 500
    a real client would see, so tests can assert it never happens.
    """
    settings = Settings(
        db_url=services.test_database_url(db),
        redis_url=services.test_redis_url(),
        limits=limits or Limits(),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            yield http


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process with the production limits and a fresh SQLite file."""
    async with in_process(tmp_path / "relay.db") as http:
        yield http


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
