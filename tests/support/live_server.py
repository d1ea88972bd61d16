"""The server process the tests start (the same launcher the demo uses), on the
engine the run selects (tests/support/services.py: SQLite, or PostgreSQL and Redis)."""

from __future__ import annotations

from pathlib import Path

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
        if self.db_url is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            services.migrated_sqlite(self.db_path)
        super().start()


__all__ = ["LiveServer", "free_port"]
