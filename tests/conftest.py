"""Fixtures shared across the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer

# Starts PostgreSQL and Redis when the run selects them, and stops them at the end;
# pins the CLI's console width (tests/support/cli_console.py).
pytest_plugins = ["tests.support.services", "tests.support.cli_console"]


def _running(directory: Path) -> Iterator[LiveServer]:
    server = LiveServer(directory)
    server.directory.mkdir(exist_ok=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real server process (``python -m sottovoce.server``) on a free 127.0.0.1
    port with a fresh SQLite file: ``.url``, ``.db_path``, ``.log_path``, ``.stop()``,
    ``.start()`` (same database and port), ``.kill()``. Stopped at teardown."""
    yield from _running(tmp_path / "server")


@pytest.fixture(scope="module")
def live_server_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server process for a whole test module, for tests that never stop it
    and keep apart by using fresh handles; saves a process start per test."""
    yield from _running(tmp_path_factory.mktemp("server"))
