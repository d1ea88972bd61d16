"""The server process the tests start (the same launcher the demo uses), on the
engine the run selects (tests/support/services.py: SQLite, or PostgreSQL and Redis)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sottovoce.server.process import ServerProcess, free_port
from tests.support import services


class LiveServer(ServerProcess):
    """A fresh SQLite file, or a fresh PostgreSQL database, per server: a copy of a
    migrated template (tests/support/services.py), so the server starts as on a
    restart, without its migration child."""

    def __init__(self, directory: Path, apps: str = "chat,photos") -> None:
        db_url = None
        if services.selected_engine() == "postgresql":
            db_url = services.postgres().migrated_database()
        super().__init__(directory, apps, db_url=db_url, redis_url=services.test_redis_url())

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)  # its log, on either engine
        if self.db_url is None:
            services.migrated_sqlite(self.db_path)
        super().start()


# A test that stops, restarts or kills its server carries this mark: where a package
# shares one server (server_for), such a test gets its own instead.
OWN_SERVER = "own_server"


def server_for(request: pytest.FixtureRequest, shared: str) -> LiveServer:
    """The package's one server (the fixture named ``shared``), or this test's own
    (``live_server``) when it is marked ``own_server``: what a package's fixtures
    take, so a test that takes the server away does so only to itself."""
    name = "live_server" if request.node.get_closest_marker(OWN_SERVER) else shared
    server = request.getfixturevalue(name)
    assert isinstance(server, LiveServer)
    return server


__all__ = ["OWN_SERVER", "LiveServer", "free_port", "server_for"]
