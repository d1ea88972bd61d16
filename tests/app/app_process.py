"""``sottovoce app`` as a child process, the way a person starts it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from playwright.async_api import Page

STARTUP_TIMEOUT_S = 30.0
# Where Linux keeps POSIX semaphores and shared memory (shm_overview(7)).
FAKETIME_SHM = Path("/dev/shm")
_URL = re.compile(r"^open (http://127\.0\.0\.1:(\d+)/)#k=([A-Za-z0-9_-]+)$")


class AppProcess:
    def __init__(
        self,
        profile: Path,
        server_url: str | None,
        log: Path,
        *,
        clock_ahead_s: int = 0,
        app_args: tuple[str, ...] = (),
    ) -> None:
        self.profile = profile
        self.server_url = server_url
        self.log_path = log
        # Run under libfaketime this far in the future (a disappearing timer's end).
        self.clock_ahead_s = clock_ahead_s
        # More options of ``sottovoce app``, e.g. ``("--transparency-watch", "1")``.
        self.app_args = app_args
        self._process: subprocess.Popen[str] | None = None
        self.base = ""
        self.port = 0
        self.token = ""
        self.address = ""

    @property
    def launch_url(self) -> str:
        return f"{self.base}#k={self.token}"

    def start(self) -> None:
        command = str(Path(sys.executable).with_name("sottovoce"))
        args = [command, "--profile", str(self.profile)]
        if self.clock_ahead_s:
            args = ["faketime", "-f", f"+{self.clock_ahead_s}s", *args]
        args += ["app", "--no-browser"]
        if self.server_url:
            args += ["--server", self.server_url]
        args += self.app_args
        log = self.log_path.open("a")
        self._process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # Its own process group: ``faketime`` runs the app as its child, and
            # stop() must end both.
            start_new_session=True,
        )
        log.close()
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        match = _URL.match(line)
        assert match, f"unexpected first line {line!r}; see {self.log_path}"
        self.base, self.port, self.token = match.group(1), int(match.group(2)), match.group(3)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        # One client for every poll (a new one per request builds a TLS context).
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                try:
                    http.get(self.base)
                    return
                except httpx.TransportError:
                    time.sleep(0.05)
        raise AssertionError(f"the app did not start; see {self.log_path}")

    @contextlib.contextmanager
    def http(self, timeout_s: float = 60) -> Iterator[httpx.Client]:
        """An HTTP client of this app as its own page is one: same origin, with the
        session cookie the launch token buys (which spends the token)."""
        origin = {"Origin": self.base.rstrip("/")}
        with httpx.Client(base_url=self.base, headers=origin, timeout=timeout_s) as http:
            answer = http.post("/api/session", json={"token": self.token})
            assert answer.status_code == 200, answer.text
            yield http

    @contextlib.contextmanager
    def signed_in(self, passphrase: str, timeout_s: float = 60) -> Iterator[httpx.Client]:
        """:meth:`http` with the profile unlocked; ``self.address`` is whose it is."""
        with self.http(timeout_s) as http:
            answer = http.post("/api/signin", json={"passphrase": passphrase})
            assert answer.status_code == 200, answer.text
            self.address = answer.json()["address"]
            yield http

    async def open_signed_in(self, page: Page, passphrase: str) -> None:
        """The app in Chromium ``page``, signed in with the profile's passphrase."""
        await page.goto(self.launch_url)
        await page.fill("#si-pass", passphrase)
        await page.keyboard.press("Enter")

    def stop(self) -> None:
        if self._process is not None:
            group = self._process.pid  # the session leader's pid is the group id
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)  # anything of it still running
            self._process.wait()
            self._process = None
            if self.clock_ahead_s:
                # The ``faketime`` wrapper, signalled with its app, leaves its POSIX
                # semaphore and shared memory (named by its pid) behind; a later
                # wrapper given the same pid would fail to start ("sem_open: File
                # exists").
                for name in (f"sem.faketime_sem_{group}", f"faketime_shm_{group}"):
                    with contextlib.suppress(FileNotFoundError):
                        (FAKETIME_SHM / name).unlink()
