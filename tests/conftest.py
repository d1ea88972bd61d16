"""Fixtures shared across the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real server process on a free 127.0.0.1 port with a fresh SQLite file."""
    server = LiveServer(tmp_path / "server")
    server.directory.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
