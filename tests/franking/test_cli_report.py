"""``sottovoce report``: a person reports a received message from the command line."""

from __future__ import annotations

import secrets
from pathlib import Path

from typer.testing import CliRunner

from sottovoce.cli.main import app
from tests.support.live_server import LiveServer

runner = CliRunner()


def sv(profile: Path, *args: str) -> tuple[int, str]:
    # Wide enough that a table row (message id and text) stays on one line.
    result = runner.invoke(app, ["--profile", str(profile), *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout + result.stderr


def test_report_a_received_message_then_a_refused_replay(relay: LiveServer, tmp_path: Path) -> None:
    sender, victim = f"s-{secrets.token_hex(3)}", f"v-{secrets.token_hex(3)}"
    for handle, app_name in ((sender, "chat"), (victim, "photos")):
        code, output = sv(
            tmp_path / handle,
            "account",
            "create",
            "--server",
            relay.url,
            "--app",
            app_name,
            "--handle",
            handle,
        )
        assert code == 0, output
    assert sv(tmp_path / sender, "send", f"{victim}@photos", "you will regret this")[0] == 0
    code, output = sv(tmp_path / victim, "inbox")
    assert code == 0 and "you will regret this" in output
    code, output = sv(tmp_path / victim, "history", f"{sender}@chat", "--ids")
    assert code == 0, output
    # The table may wrap the text (the console's width is fixed when it is created),
    # but the message id and the text's first words share the row's first line.
    (line,) = [x for x in output.splitlines() if "you will regret" in x]
    message_id = next(w for w in line.split() if len(w) == 22)
    code, output = sv(tmp_path / victim, "report", message_id, "--reason", "a threat")
    assert code == 0, output
    assert f"filed about {sender}@chat" in output and "signed the send" in output
    code, output = sv(tmp_path / victim, "report", message_id, "--reason", "again")
    assert code == 1 and "already reported" in output
    code, output = sv(tmp_path / victim, "report", "no-such-message", "--reason", "x")
    assert code == 1 and "no received message" in output
    code, output = sv(tmp_path / victim, "report", message_id)
    assert code == 2
