"""Run the real server as a child process on a free loopback port.

Used by the demo, the tests and the benchmarks, so all of them exercise exactly
what an operator runs: ``python -m sottovoce.server``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m sottovoce.server`` with its own SQLite file (or the database
    ``db_url`` names, and Redis when ``redis_url`` is given) and captured log."""

    # What runs; a test's deliberately malicious server (tests/ghost) names its own.
    module = "sottovoce.server"

    def extra_args(self) -> list[str]:
        return []

    def __init__(
        self,
        directory: Path,
        apps: str = "chat,photos",
        *,
        db_url: str | None = None,
        redis_url: str | None = None,
        server_args: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.db_path = directory / "server.db"
        self.db_url = db_url
        self.redis_url = redis_url
        self.server_args = server_args
        self.log_path = directory / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.apps = apps
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        # Arguments are this interpreter, a fixed module and values we generated.
        self._process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                self.module,
                "--db",
                self.db_url or str(self.db_path),
                "--port",
                str(self.port),
                "--apps",
                self.apps,
                *(["--redis", self.redis_url] if self.redis_url else []),
                # Attachment files stay in this directory on PostgreSQL too.
                "--blob-dir",
                str(self.directory / "blobs"),
                *self.server_args,
                *self.extra_args(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not become healthy in time")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush or drain."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
