"""`make demo` runs clean on a fresh server, and says FAIL when the server learns something."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from sottovoce import demo
from sottovoce.demo.checks import check_server_learned_nothing
from sottovoce.demo.one_to_one import come_online
from sottovoce.demo.stage import Stage

DEMO_TIMEOUT_S = 60.0  # the brief: well under a minute; a healthy run takes seconds


def test_the_demo_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sottovoce.demo"],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every check passed" in result.stdout
    # Every act that sends adds its messages to the count (one-to-one, sealed, group).
    assert re.search(r"PASS: all \d+ messages, once each", result.stdout)
    assert "FAIL" not in result.stdout
    assert "Traceback" not in result.stderr


async def leak_a_text_into_the_log(stage: Stage) -> None:
    """A careless server: logs one message's text."""
    with stage.server.log_path.open("a", encoding="utf-8") as log:
        log.write(f"DEBUG relaying {stage.exchanges[0].text}\n")


def test_the_demo_fails_when_plaintext_reaches_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first messages sent and fetched, the careless log line, then the search: the
    # check under test without the rest of the show (test_the_demo_passes runs it all).
    acts = [*demo.ACTS[: demo.ACTS.index(come_online) + 1], leak_a_text_into_the_log]
    monkeypatch.setattr(demo, "ACTS", [*acts, check_server_learned_nothing])
    assert demo.main() == 1
    shown = capsys.readouterr().out
    assert "is in server.log (raw)" in shown
    assert "every check passed" not in shown
