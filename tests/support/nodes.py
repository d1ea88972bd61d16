"""Real server nodes on one PostgreSQL database and one Redis, as an operator runs
them behind a load balancer (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sottovoce.server.process import ServerProcess
from tests.support.services import PostgresCluster, RedisServer


@contextmanager
def two_nodes(
    postgres: PostgresCluster, redis: RedisServer, root: Path, *, migrated: bool = False
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Nodes ``a`` and ``b`` (directories under ``root``) on a new, empty database:
    started one after the other, so the first runs the migrations; stopped at the end.
    ``migrated``: a copy of the migrated template instead, so both start as on a
    restart (no migration to wait for). Each node's ``db_url`` and ``redis_url`` name
    what they share."""
    db_url = postgres.migrated_database() if migrated else postgres.create_database()
    a, b = (
        ServerProcess(root / f"node-{name}", db_url=db_url, redis_url=redis.url)
        for name in ("a", "b")
    )
    try:
        for node in (a, b):
            node.directory.mkdir(parents=True, exist_ok=True)
            node.start()
        yield a, b
    finally:
        a.stop()
        b.stop()
