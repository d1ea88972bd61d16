"""Server fixtures: the app in-process for fast logic tests (the real process is
``live_server`` / ``live_server_module`` from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from sottovoce.server.settings import Limits
from tests.support.in_process import Relay, in_process


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
