"""The server's ASGI app in the test's own process, for fast logic tests (the real
process is tests/support/live_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sottovoce.server.app import create_app
from sottovoce.server.settings import Limits, Settings
from sottovoce.server.state import ServerState
from tests.support import services


@dataclass
class Relay:
    """An in-process server: ``http`` talks to it, ``state`` is what its handlers share."""

    http: httpx.AsyncClient
    state: ServerState


def relay_settings(db: Path, limits: Limits | None = None) -> Settings:
    """Settings on the run's engine (a migrated copy: tests/support/services.py)."""
    return Settings(
        db_url=services.test_database_url(db),
        redis_url=services.test_redis_url(),
        limits=limits or Limits(),
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Relay]:
    """The ASGI app with its lifespan run (migrations, storage) behind an httpx client.

    A crash inside the app must show up as the 500 a real client would see
    (``raise_app_exceptions=False``), so tests can assert it never happens.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            yield Relay(http, app.state.sottovoce)


def in_process(db: Path, limits: Limits | None = None) -> AbstractAsyncContextManager[Relay]:
    """``running`` with the default settings (or ``limits``) on the database ``db``."""
    return running(relay_settings(db, limits))
