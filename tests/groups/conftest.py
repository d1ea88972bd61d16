"""Group fixtures: the in-process relay of tests/server for the Delivery Service's
logic; the real process (``live_server``) for the SDK's groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.in_process import Relay, in_process


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Relay]:
    async with in_process(tmp_path / "relay.db") as server:
        yield server
