"""The device, verify and audit commands, run as a person would run them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sottovoce.cli.main import app
from tests.support.live_server import LiveServer

runner = CliRunner()
SOTTOVOCE = Path(sys.executable).parent / "sottovoce"
CODE = re.compile(r"sottovoce device accept (sv-link:[A-Za-z0-9_-]+)")


def cli(profile: Path, *args: str) -> str:
    result = runner.invoke(app, ["--profile", str(profile), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_link_list_verify_remove_and_audit(devices_server: LiveServer, tmp_path: Path) -> None:
    url = devices_server.url
    a, a2, b = tmp_path / "a", tmp_path / "a2", tmp_path / "b"
    cli(a, "account", "create", "--server", url, "--app", "chat", "--handle", "cli-a")
    cli(b, "account", "create", "--server", url, "--app", "photos", "--handle", "cli-b")
    cli(a, "send", "cli-b@photos", "hello")

    linking = subprocess.Popen(
        [str(SOTTOVOCE), "--profile", str(a2), "device", "link", "--server", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert linking.stdout is not None
        code = None
        for line in linking.stdout:
            found = CODE.search(line)
            if found:
                code = found.group(1)
                break
        assert code is not None
        assert "device 2 linked" in cli(a, "device", "accept", code)
        output, errors = linking.communicate(timeout=60)
        assert linking.returncode == 0, errors
        assert "█" in output or "▀" in output  # the QR code was drawn
        assert "this is device 2 of cli-a@chat" in output
    finally:
        if linking.poll() is None:
            linking.kill()

    listed = cli(a2, "device", "list")
    assert "this device" in listed and re.search(r"^\W*1\W", listed, re.MULTILINE)
    # Device 1 made the change itself: nothing to warn about.
    assert "your devices changed" not in cli(a, "inbox")

    before = cli(b, "verify", "cli-a@chat", "--confirm")
    assert "cli-a@chat is verified" in before
    digits = re.findall(r"\b\d{5}\b", before)
    assert len(digits) == 12
    cli(a, "device", "remove", "2")
    after = cli(b, "verify", "cli-a@chat")
    assert re.findall(r"\b\d{5}\b", after) != digits  # a device left: the number changed
    blocked = runner.invoke(app, ["--profile", str(b), "send", "cli-a@chat", "still you?"])
    assert blocked.exit_code == 1
    assert "has changed" in blocked.output
    cli(b, "verify", "cli-a@chat", "--confirm")
    cli(b, "send", "cli-a@chat", "checked again")

    audited = cli(tmp_path, "audit", "--server", url, "--rounds", "2", "--interval", "0.2")
    assert re.search(r"epoch \d+: verified size \d+ root [0-9a-f]{64}", audited)
    assert "consistent with epoch" in audited
