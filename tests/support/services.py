"""Throwaway PostgreSQL and Redis servers for the suite, on loopback in temp directories.

``SOTTOVOCE_TEST_DB=postgresql`` makes every server the tests start (the real
process and the in-process app) use a fresh database on one PostgreSQL cluster
per pytest process; ``SOTTOVOCE_TEST_REDIS=1`` gives them the Redis fan-out too.
Either service starts on first use and stops when the test session ends (this
module is a pytest plugin, loaded by tests/conftest.py). Tests that need the
services whatever the selection (the chaos and fan-out tests) call
:func:`postgres` and :func:`redis` directly.

PostgreSQL refuses to run as root, so as root the cluster runs as the
``postgres`` system user (created by Debian's package) over a directory it owns.

A test's server gets a database already at the newest schema, copied from one
template per pytest process that the server's own migration child built (a file
copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL): the server then
starts as it restarts, without running Alembic. The migrations themselves are
tested on empty databases (tests/server/test_storage.py, test_migration_head.py,
tests/engines/test_postgresql_schema.py, and the multi-node tests, whose first
node migrates the empty database they create).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import inspect
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sottovoce.server.process import free_port
from sottovoce.server.settings import database_url

ENGINE_VARIABLE = "SOTTOVOCE_TEST_DB"
REDIS_VARIABLE = "SOTTOVOCE_TEST_REDIS"
SUPERUSER = "sottovoce"
START_TIMEOUT_S = 30.0
SQLITE_ONLY = "sqlite_only"
TEMPLATE_DATABASE = "sv_template"


def migrate(db_url: str) -> None:
    """Bring a database to the newest schema as a server node does on its first start
    (``python -m sottovoce.server.migration``, the URL on its standard input)."""
    subprocess.run(
        [sys.executable, "-m", "sottovoce.server.migration"],
        input=db_url.encode(),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )


def selected_engine() -> str:
    engine = os.environ.get(ENGINE_VARIABLE, "sqlite").strip().lower() or "sqlite"
    if engine not in ("sqlite", "postgresql"):
        raise RuntimeError(f"{ENGINE_VARIABLE} must be sqlite or postgresql, not {engine!r}")
    return engine


def redis_selected() -> bool:
    return os.environ.get(REDIS_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def _postgres_binary(name: str) -> str:
    """Debian puts the server tools in /usr/lib/postgresql/<major>/bin, off PATH."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]),
    )
    if not candidates:
        raise RuntimeError(f"{name} not found: install the postgresql Debian package")
    return candidates[-1]


def _as_service_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _wait_for_port(port: int, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class PostgresCluster:
    """``initdb`` into a temp directory, ``pg_ctl`` on a free loopback port."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sottovoce-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.log_path = self.directory / "postgres.log"
        self._running = False
        self._template_ready = False

    def _run(self, *argv: str) -> None:
        subprocess.run(
            _as_service_user(list(argv)),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            _postgres_binary("initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        # fsync off: a test cluster outlives no machine crash, and a killed or
        # restarted postmaster still finds every committed write in the OS cache.
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.directory}",
                "-c max_connections=400",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c shared_buffers=64MB",
            ]
        )
        self._run(
            _postgres_binary("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            str(int(START_TIMEOUT_S)),
            "start",
        )
        self._running = True
        _wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        if not self._running:
            return
        self._run(_postgres_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self._running = False

    def restart(self, mode: str = "immediate") -> None:
        """Stop (``immediate`` is a crash: no checkpoint, clients cut off) and start."""
        self.stop(mode)
        self.start()

    def create_database(self, template: str = "template0") -> str:
        """A new database, empty unless ``template`` names another; its async URL."""
        name = f"sv_{secrets.token_hex(6)}"
        self._createdb(name, template)
        return self.url(name)

    def migrated_database(self) -> str:
        """A new database at the newest schema: a copy of this cluster's template,
        migrated once (nothing connects to it afterwards, as copying requires)."""
        if not self._template_ready:
            self._createdb(TEMPLATE_DATABASE, "template0")
            migrate(self.url(TEMPLATE_DATABASE))
            self._template_ready = True
        return self.create_database(TEMPLATE_DATABASE)

    def _createdb(self, name: str, template: str) -> None:
        subprocess.run(
            [
                _postgres_binary("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-T",
                template,
                name,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def url(self, database: str) -> str:
        return database_url(f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence (it holds no state
    the suite needs to survive a restart: wake-ups, nonces and rate buckets)."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sottovoce-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = (self.directory / "redis.log").open("ab")
        self._process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


_postgres: PostgresCluster | None = None
_redis: RedisServer | None = None


def postgres() -> PostgresCluster:
    """This pytest process's PostgreSQL cluster, started on first use."""
    global _postgres
    if _postgres is None:
        cluster = PostgresCluster()
        try:
            cluster.init()
            cluster.start()
        except BaseException:
            cluster.remove()
            raise
        _postgres = cluster
    return _postgres


def redis() -> RedisServer:
    """This pytest process's Redis server, started on first use."""
    global _redis
    if _redis is None:
        server = RedisServer()
        server.start()
        _redis = server
    return _redis


_sqlite_template: Path | None = None


def migrated_sqlite(path: Path) -> None:
    """Put a database at the newest schema at ``path`` unless a file is there (a test
    that starts a server twice on one file keeps what the first stored)."""
    global _sqlite_template
    if path.exists():
        return
    if _sqlite_template is None:
        template = Path(tempfile.mkdtemp(prefix="sottovoce-template-")) / "template.db"
        migrate(database_url(str(template)))
        atexit.register(shutil.rmtree, template.parent, ignore_errors=True)
        _sqlite_template = template
    shutil.copyfile(_sqlite_template, path)


def test_database_url(sqlite_path: Path) -> str:
    """The database a test server uses, at the newest schema: the SQLite file at
    ``sqlite_path``, or a fresh PostgreSQL database."""
    if selected_engine() == "postgresql":
        return postgres().migrated_database()
    migrated_sqlite(sqlite_path)
    return database_url(str(sqlite_path))


def test_redis_url() -> str | None:
    return redis().url if redis_selected() else None


def stop_all() -> None:
    global _postgres, _redis
    if _postgres is not None:
        _postgres.remove()
        _postgres = None
    if _redis is not None:
        _redis.remove()
        _redis = None


@pytest.fixture(scope="session")
def running_services() -> Iterator[tuple[PostgresCluster, RedisServer]]:
    """PostgreSQL and Redis whatever the engine selection (for multi-node tests)."""
    yield postgres(), redis()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SQLITE_ONLY}: reads or writes the server's SQLite file directly; "
        f"skipped when {ENGINE_VARIABLE}=postgresql (also found from the test's source)",
    )


# What a test's source names when it opens the server's SQLite file itself (the
# tests that play a compromised relay or search the database file byte by byte).
# Reading the server's tables through tests/support/server_db.py works on both.
_SQLITE_FILE_USES = ("db_path", "sqlite3.connect", 'relay.db"', "server_files(")


def _reads_sqlite_file(item: pytest.Item) -> bool:
    if item.get_closest_marker(SQLITE_ONLY) is not None:
        return True
    function = getattr(item, "function", None)
    if function is None:
        return False
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return any(use in source for use in _SQLITE_FILE_USES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if selected_engine() != "postgresql":
        return
    skip = pytest.mark.skip(reason="opens the server's SQLite file itself")
    for item in items:
        if _reads_sqlite_file(item):
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_all()


# pg_ctl detaches the postmaster from this process: stop it even if pytest exits
# without finishing its session (an internal error, or a script like bench/load.py).
atexit.register(stop_all)
