"""Server fixtures: the app in-process for fast logic tests (the real process is
``live_server`` / ``live_server_module`` from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sottovoce.server.app import create_app
from sottovoce.server.settings import Limits, Settings
from sottovoce.server.state import ServerState
from tests.support import services


@dataclass
class Relay:
    """An in-process server: ``http`` talks to it, ``state`` is what its handlers share."""

    http: httpx.AsyncClient
    state: ServerState


@asynccontextmanager
async def in_process(db: Path, limits: Limits | None = None) -> AsyncIterator[Relay]:
    """The ASGI app with its lifespan run (migrations, storage) behind an httpx client.

    A crash inside the app must show up as the 500 a real client would see
    (``raise_app_exceptions=False``), so tests can assert it never happens.
    """
    app = create_app(
        Settings(
            db_url=services.test_database_url(db),
            redis_url=services.test_redis_url(),
            limits=limits or Limits(),
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            yield Relay(http, app.state.sottovoce)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Relay]:
    """The app in-process with the default limits and a fresh SQLite file."""
    async with in_process(tmp_path / "relay.db") as server:
        yield server


@pytest.fixture
def relay_with(tmp_path: Path) -> Callable[[Limits], AbstractAsyncContextManager[Relay]]:
    """``async with relay_with(Limits(...)) as relay``: the app with other limits."""

    def start(limits: Limits) -> AbstractAsyncContextManager[Relay]:
        return in_process(tmp_path / "relay.db", limits)

    return start
