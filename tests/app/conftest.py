"""One real server for the app's tests: none of them stops it, and each makes its own
people with random handles (a server start is ~1.5 s of CPU, about what a short
test here costs on its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.live_server import LiveServer
from tests.support.people import running


@pytest.fixture(scope="package")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server process every test of tests/app talks to (``.url`` only)."""
    yield from running(LiveServer(tmp_path_factory.mktemp("app-relay")))
