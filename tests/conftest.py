"""Fixtures shared across the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.live_server import OWN_SERVER, LiveServer

# Hypothesis fails an example that runs longer than 200 ms of wall time. On the 2-core
# machine the workers share with their servers, a millisecond example can wait that
# long for a core (session 7: test_metrics_tally at load 16), which says nothing of
# the code under test; how long a test may take is pytest-timeout's (pyproject.toml).
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

# Starts PostgreSQL and Redis when the run selects them, and stops them at the end;
# pins the CLI's console width (tests/support/cli_console.py); the ``browser``
# fixture, Debian's headless Chromium (tests/support/browser.py).
pytest_plugins = ["tests.support.services", "tests.support.cli_console", "tests.support.browser"]


# A test of minutes (the chaos test): under `-n 2 --dist loadfile` its file must not be
# the last one a worker picks up, or that worker runs it alone while the other idles.
START_FIRST = "start_first"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{START_FIRST}: runs for minutes; its file is scheduled before all others "
        "(the Makefile passes --no-loadscope-reorder so xdist keeps this order)",
    )
    config.addinivalue_line(
        "markers",
        f"{OWN_SERVER}: stops, restarts or kills its server, so where its package shares "
        "one server it gets its own (tests/support/live_server.py server_for)",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a ``start_first`` test first, the rest in their usual order."""
    first = {item.path for item in items if item.get_closest_marker(START_FIRST)}
    items.sort(key=lambda item: item.path not in first)


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
