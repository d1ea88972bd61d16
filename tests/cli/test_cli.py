"""The command line against the real server: the flows a person types, and clean errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sottovoce.cli.main import app
from tests.support.live_server import LiveServer, free_port

runner = CliRunner()


def sv(profile: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--profile", str(profile), *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_conversation_by_hand(live_server: LiveServer, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    code, out, _ = sv(
        a, "account", "create", "--server", live_server.url, "--app", "chat", "--handle", "demo-a"
    )
    assert code == 0 and "demo-a@chat" in out
    code, _, _ = sv(
        b, "account", "create", "--server", live_server.url, "--app", "photos", "--handle", "demo-b"
    )
    assert code == 0
    assert sv(a, "send", "demo-b@photos", "hello across apps")[0] == 0
    code, out, _ = sv(b, "inbox")
    assert code == 0 and "hello across apps" in out and "demo-a@chat" in out
    assert "no new messages" in sv(b, "inbox")[1]
    assert sv(b, "send", "demo-a@chat", "hello back")[0] == 0
    assert "hello back" in sv(a, "inbox")[1]
    code, out, _ = sv(a, "history", "demo-b@photos")
    assert code == 0 and "hello across apps" in out and "hello back" in out
    code, out, _ = sv(a, "conversations")
    assert code == 0 and "demo-b@photos" in out
    code, out, _ = sv(a, "account", "show")
    assert code == 0 and "demo-a@chat device 1" in out


def test_passphrase_profiles(live_server: LiveServer, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery staple\n")
    profile = tmp_path / "p"
    code, _, err = sv(
        profile,
        "--passphrase-file",
        str(secret),
        "account",
        "create",
        "--server",
        live_server.url,
        "--app",
        "chat",
        "--handle",
        "locked",
    )
    assert code == 0, err
    assert sv(profile, "--passphrase-file", str(secret), "account", "show")[0] == 0
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope\n")
    code, _, err = sv(profile, "--passphrase-file", str(wrong), "account", "show")
    assert code == 1 and "wrong passphrase" in err


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["server"],
        ["account", "create"],
        ["account", "show"],
        ["send"],
        ["inbox"],
        ["listen"],
        ["history"],
        ["conversations"],
        ["contact", "trust"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_errors_are_one_line_without_traceback(live_server: LiveServer, tmp_path: Path) -> None:
    a = tmp_path / "a"
    assert (
        sv(a, "account", "create", "--server", live_server.url, "--app", "chat", "--handle", "x")[0]
        == 0
    )
    cases = [
        (sv(a, "send", "nobody@photos", "hi"), "does not exist"),
        (sv(a, "send", "not-an-address", "hi"), "is not an address"),
        (sv(tmp_path / "missing", "inbox"), "no profile"),
        (
            sv(
                a,
                "account",
                "create",
                "--server",
                live_server.url,
                "--app",
                "chat",
                "--handle",
                "y",
            ),
            "already exists",
        ),
        (sv(a, "contact", "trust", "nobody@chat"), "has not changed"),
        (
            sv(
                tmp_path / "b",
                "account",
                "create",
                "--server",
                live_server.url,
                "--app",
                "nope",
                "--handle",
                "z",
            ),
            "unknown-app",
        ),
        (
            sv(
                tmp_path / "c",
                "account",
                "create",
                "--server",
                f"http://127.0.0.1:{free_port()}",
                "--app",
                "chat",
                "--handle",
                "z",
            ),
            "cannot reach",
        ),
    ]
    for (code, _, err), expected in cases:
        assert code == 1
        assert expected in err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
