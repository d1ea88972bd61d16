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
# A first start tries this many free ports, each picked when nothing held it.
PORT_ATTEMPTS = 3
# How uvicorn reports a port another process holds (errno EADDRINUSE).
PORT_TAKEN = "address already in use"
# /proc/net/tcp's state for a listening socket (include/net/tcp_states.h).
TCP_LISTEN = "0A"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on 127.0.0.1:``port``, read
    from Linux's /proc (proc(5): /proc/net/tcp, /proc/PID/fd). Without /proc, the
    health check alone has to do."""
    try:
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return not Path("/proc/net/tcp").exists()
    # The address as the kernel prints it: 127.0.0.1 in host byte order, then the port.
    loopback = int.from_bytes(socket.inet_aton("127.0.0.1"), sys.byteorder)
    address = f"{loopback:08X}:{port:04X}"
    sockets = {f"socket:[{r[9]}]" for r in rows if r[1] == address and r[3] == TCP_LISTEN}
    for descriptor in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") in sockets:
                return True
        except OSError:
            continue  # closed since it was listed
    return False


class ServerProcess:
    """``python -m sottovoce.server`` with its own SQLite file (or the database
    ``db_url`` names, and Redis when ``redis_url`` is given) and captured log."""

    # What runs; a test's deliberately malicious server (tests/ghost) names its own.
    module = "sottovoce.server"
    # How long start() waits for /healthz to answer.
    startup_timeout_s = STARTUP_TIMEOUT_S

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
        self._started = False  # once started, the port is this server's for good

    def start(self) -> None:
        """Start the server and wait until it answers. The port was only free when it
        was picked: if something took it before the server bound it, a first start
        moves to another free port (a restart keeps its port, or fails)."""
        for attempt in range(PORT_ATTEMPTS):
            if self._spawn_and_wait():
                self._started = True
                return
            if self._started or attempt == PORT_ATTEMPTS - 1:
                raise RuntimeError(f"port {self.port} was taken before the server bound it")
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"

    def _spawn_and_wait(self) -> bool:
        """True once the server answers on its port; False when the port was taken."""
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
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
        # One HTTP client for all the polls: each new one builds a TLS context (reads
        # the CA bundle, ~20 ms of CPU), and a start polls twenty times or more.
        with httpx.Client(timeout=1) as http:
            return self._became_healthy(self._process, http, log_start)

    def _became_healthy(
        self, process: subprocess.Popen[bytes], http: httpx.Client, log_start: int
    ) -> bool:
        """Poll ``/healthz`` until ``process`` answers it (True) or exits because its
        port was taken (False); raise if it exits otherwise or times out."""
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                with self.log_path.open("rb") as written:
                    written.seek(log_start)
                    tail = written.read().decode(errors="replace")
                if PORT_TAKEN in tail:
                    return False
                raise RuntimeError(f"server exited: {tail[-2000:]}")
            try:
                answered = http.get(self.url + "/healthz").status_code == 200
            except httpx.HTTPError:
                answered = False
            # The answer counts only if it came from this server, not from another
            # process that holds the port.
            if answered and _listens_on(process.pid, self.port):
                return True
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
