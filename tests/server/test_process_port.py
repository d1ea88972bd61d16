"""The server launcher on a loaded machine: a free port picked for a server can be
taken by another process before the server binds it. A first start moves to another
port instead of failing, and never mistakes the other process's answers for its own
server's; a restart keeps its port or fails clearly."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from sottovoce.server import process
from tests.support.live_server import LiveServer


def test_a_port_taken_before_the_server_binds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The launcher itself (sottovoce.server.process.ServerProcess), on copies of a
    # migrated database, so that no start waits for a migration child.
    with LiveServer(tmp_path / "first") as first:
        # The second server is handed the port the first one holds, as if another
        # process had taken it between the pick and the bind; the first one even
        # answers the health check there.
        picks = [first.port]
        real_pick = process.free_port
        monkeypatch.setattr(process, "free_port", lambda: picks.pop() if picks else real_pick())
        second = LiveServer(tmp_path / "second")
        assert second.port == first.port
        with second:
            assert second.port != first.port
            assert "address already in use" in second.log_text()
            assert httpx.get(f"{second.url}/healthz", timeout=5).status_code == 200
            assert httpx.get(f"{first.url}/healthz", timeout=5).status_code == 200
        # A restart keeps its port: taken meanwhile, it fails and says why.
        with socket.socket() as squatter:
            # As uvicorn does: the stopped server's connections may linger in TIME_WAIT.
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", second.port))
            squatter.listen()
            with pytest.raises(RuntimeError, match="was taken before the server bound it"):
                second.start()
