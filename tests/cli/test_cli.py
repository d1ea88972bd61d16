"""The command line against the real server: the flows a person types, and clean errors."""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sottovoce.cli.main import app
from sottovoce.cli.profile import default_profile
from sottovoce.client import Client
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.tree_head import parse_signed_tree_head
from tests.support.cli import create_account, runner, sv
from tests.support.live_server import LiveServer, free_port

# The console script `pip install` made, next to this interpreter.
SOTTOVOCE = Path(sys.executable).parent / "sottovoce"
# Time for a subprocess to start, reach the server and print a line.
SUBPROCESS_WAIT_S = 20.0


def assert_one_line_error(result: tuple[int, str, str], expected: str, code: int = 1) -> None:
    exit_code, _, err = result
    assert exit_code == code, err
    assert err.startswith("error: ")
    assert expected in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_conversation_by_hand(live_server_module: LiveServer, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    a, b = tmp_path / "a", tmp_path / "b"
    create_account(a, live_server_module.url, "chat", f"demo-a-{tag}")
    create_account(b, live_server_module.url, "photos", f"demo-b-{tag}")
    assert sv(a, "send", f"demo-b-{tag}@photos", "hello across apps")[0] == 0
    assert sv(a, "send", f"demo-b-{tag}@photos", "--", "-1 is a number too")[0] == 0
    code, out, _ = sv(b, "inbox")
    assert code == 0
    assert "2 new message(s)" in out and f"demo-a-{tag}@chat" in out
    assert "hello across apps" in out and "-1 is a number too" in out
    assert "no new messages" in sv(b, "inbox")[1]
    assert sv(b, "send", f"demo-a-{tag}@chat", "hello back")[0] == 0
    # The profile may come from SOTTOVOCE_PROFILE instead of --profile.
    result = runner.invoke(app, ["inbox"], env={"SOTTOVOCE_PROFILE": str(a)})
    assert result.exit_code == 0 and "hello back" in result.stdout
    code, out, _ = sv(a, "history", f"demo-b-{tag}@photos")
    assert code == 0
    assert out.index("hello across apps") < out.index("hello back")
    code, out, _ = sv(a, "history", f"demo-b-{tag}@photos", "--limit", "1")
    assert "hello back" in out and "hello across apps" not in out
    code, out, _ = sv(a, "conversations")
    assert code == 0 and f"demo-b-{tag}@photos" in out and "hello back" in out
    code, out, _ = sv(a, "account", "show")
    assert code == 0 and f"demo-a-{tag}@chat device 1 on {live_server_module.url}" in out


def test_a_fresh_profile_has_no_conversations(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    create_account(tmp_path / "a", live_server_module.url, "chat", f"quiet-{tag}")
    code, out, _ = sv(tmp_path / "a", "conversations")
    assert code == 0 and "no conversations yet" in out
    code, out, _ = sv(tmp_path / "a", "history", "nobody@chat")
    assert code == 0 and "no messages with nobody@chat" in out


def test_passphrase_from_a_file_or_the_environment(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
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
        live_server_module.url,
        "--app",
        "chat",
        "--handle",
        f"locked-{tag}",
    )
    assert code == 0, err
    assert not (profile / "store.key").exists()  # the passphrase, not a key file, protects it
    assert sv(profile, "--passphrase-file", str(secret), "account", "show")[0] == 0
    env = {"SOTTOVOCE_PASSPHRASE": "correct horse battery staple"}
    assert sv(profile, "account", "show", env=env)[0] == 0
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope\n")
    assert_one_line_error(
        sv(profile, "--passphrase-file", str(wrong), "account", "show"), "wrong passphrase"
    )
    assert_one_line_error(
        sv(profile, "account", "show", env={"SOTTOVOCE_PASSPHRASE": "nope"}), "wrong passphrase"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert_one_line_error(
        sv(profile, "--passphrase-file", str(empty), "account", "show"), "is empty"
    )
    assert_one_line_error(
        sv(profile, "--passphrase-file", str(tmp_path / "absent"), "account", "show"),
        "cannot read a passphrase",
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["server"],
        ["account"],
        ["account", "create"],
        ["account", "show"],
        ["send"],
        ["inbox"],
        ["listen"],
        ["history"],
        ["conversations"],
        ["contact"],
        ["contact", "trust"],
        ["head"],
        ["audit"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout
    assert result.stderr == ""


def test_a_device_hands_its_tree_head_to_an_auditor(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    """``sottovoce head`` prints the head this device verified; ``audit --compare``
    checks it against an auditor's own view of the log, and refuses a head of another
    log, bytes that are no head, and text that is not base64."""
    tag = secrets.token_hex(3)
    create_account(tmp_path / "a", live_server_module.url, "chat", f"kt-{tag}")
    code, out, err = sv(tmp_path / "a", "head")
    assert code == 0, err
    assert re.search(r"^epoch \d+: size \d+ root [0-9a-f]{64}$", out, re.MULTILINE)
    found = re.search(r"^head (\S+)$", out, re.MULTILINE)
    assert found is not None
    head = found.group(1)
    audit = ["audit", "--server", live_server_module.url, "--rounds", "1", "--interval", "0"]

    code, out, err = sv(tmp_path, *audit, "--compare", head)
    assert code == 0, err
    assert "head 1: one log with this auditor's view" in out

    signed = parse_signed_tree_head(base64.b64decode(head), log_key(live_server_module))
    other_log = signed.head.sign(SigningKey.generate()).to_bytes()
    refused = [base64.b64encode(other_log).decode(), base64.b64encode(b"no head").decode()]
    code, out, err = sv(tmp_path, *audit, "--compare", refused[0], "--compare", refused[1])
    assert code == 1
    assert "head 1: refused: the head to compare is not signed by the log key" in out
    assert "head 2: refused: the head to compare fails" in out
    assert_one_line_error((code, out, err), "2 of 2 head(s) are not of the log")

    code, _, err = sv(tmp_path, *audit, "--compare", "not*base64")
    assert code == 2 and "a head is standard base64" in err


def log_key(server: LiveServer) -> bytes:
    answer = httpx.get(f"{server.url}/v1/transparency/head", timeout=10).json()
    return base64.b64decode(answer["log_key"])


def test_errors_are_one_line_without_traceback(live_server: LiveServer, tmp_path: Path) -> None:
    a = tmp_path / "a"
    create_account(a, live_server.url, "chat", "x")
    url = live_server.url
    assert_one_line_error(
        sv(a, "send", "nobody@photos", "hi"), f"nobody@photos does not exist on {url}"
    )
    assert_one_line_error(sv(a, "send", "not-an-address", "hi"), "is not an address")
    assert_one_line_error(sv(a, "send", "x@chat", "hi"), "yourself")
    assert_one_line_error(sv(a, "send", "nobody@photos", ""), "needs some text")
    assert_one_line_error(sv(tmp_path / "missing", "inbox"), "no profile in")
    assert_one_line_error(
        sv(a, "account", "create", "--server", url, "--app", "chat", "--handle", "y"),
        "already exists",
    )
    assert_one_line_error(
        sv(tmp_path / "b", "account", "create", "--server", url, "--app", "chat", "--handle", "x"),
        f"x@chat is already taken on {url}",
    )
    assert_one_line_error(
        sv(tmp_path / "c", "account", "create", "--server", url, "--app", "nope", "--handle", "z"),
        "serves no app named 'nope'",
    )
    assert_one_line_error(
        sv(
            tmp_path / "d",
            "account",
            "create",
            "--server",
            "ftp://x",
            "--app",
            "chat",
            "--handle",
            "z",
        ),
        "must start with http:// or https://",
    )
    assert_one_line_error(sv(a, "contact", "trust", "nobody@chat"), "has not changed")
    # Called wrongly: Click's usage errors, also in one line, with exit code 2.
    assert_one_line_error(sv(a, "send", "nobody@photos"), "Missing argument", code=2)
    assert_one_line_error(sv(a, "history", "x@chat", "--limit", "0"), "--limit", code=2)
    assert_one_line_error(sv(a, "sned"), "No such command", code=2)
    assert_one_line_error(runner_result(["server", "--apps", "Bad"]), "app name 'Bad' must match")
    live_server.stop()
    assert_one_line_error(sv(a, "inbox"), f"cannot reach {url}")


def runner_result(args: list[str]) -> tuple[int, str, str]:
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def test_text_from_others_is_shown_literally(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    """Markup and terminal control sequences in a message are shown, never interpreted."""
    tag = secrets.token_hex(3)
    a, b = tmp_path / "a", tmp_path / "b"
    create_account(a, live_server_module.url, "chat", f"mallory-{tag}")
    create_account(b, live_server_module.url, "photos", f"bob-{tag}")
    hostile = "[bold red]fake[/] [/oops] \x1b[2J\x1b]0;pwned\x07 \u202edesrever"
    assert sv(a, "send", f"bob-{tag}@photos", hostile)[0] == 0
    code, out, err = sv(b, "inbox")
    assert code == 0, err
    assert "[bold red]fake[/] [/oops]" in out
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in out
    assert "\\u202edesrever" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    code, out, _ = sv(b, "history", f"mallory-{tag}@chat")
    assert code == 0 and "[/oops]" in out and "\x1b" not in out


def _delete_account(db_path: Path, app_name: str, handle: str) -> None:
    """What a reinstall that lost the old profile amounts to, server side: the handle
    becomes free and is registered again with new keys."""
    with sqlite3.connect(db_path, timeout=10) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM accounts WHERE app = ? AND handle = ?", (app_name, handle))


def test_a_changed_identity_is_shown_and_needs_trust(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    a = tmp_path / "a"
    create_account(a, live_server_module.url, "chat", f"alice-{tag}")
    create_account(tmp_path / "b-old", live_server_module.url, "photos", f"bob-{tag}")
    assert sv(a, "send", f"bob-{tag}@photos", "hi bob")[0] == 0
    _delete_account(live_server_module.db_path, "photos", f"bob-{tag}")
    b = tmp_path / "b-new"
    create_account(b, live_server_module.url, "photos", f"bob-{tag}")
    assert sv(b, "send", f"alice-{tag}@chat", "it is me, new phone")[0] == 0

    code, out, _ = sv(a, "inbox")
    assert code == 0
    assert "it is me, new phone" not in out  # held until trusted
    assert f"bob-{tag}@photos has a new identity key" in out
    assert f"sottovoce contact trust bob-{tag}@photos" in out
    assert_one_line_error(sv(a, "send", f"bob-{tag}@photos", "are you?"), "has changed")
    assert "has a new identity key" in sv(a, "account", "show")[1]

    code, out, _ = sv(a, "contact", "trust", f"bob-{tag}@photos")
    assert code == 0 and f"now trusting the new identity key of bob-{tag}@photos" in out
    code, out, _ = sv(a, "inbox")
    assert code == 0 and "it is me, new phone" in out and "new identity key" not in out
    assert sv(a, "send", f"bob-{tag}@photos", "welcome back")[0] == 0
    assert "welcome back" in sv(b, "inbox")[1]


def _read_until(process: subprocess.Popen[str], needle: str) -> str:
    """stdout of ``process`` up to the line holding ``needle``."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + SUBPROCESS_WAIT_S
    while needle not in seen:
        assert time.monotonic() < deadline, f"no {needle!r} in {seen!r}"
        line = process.stdout.readline()
        assert line, f"the process ended before printing {needle!r}: {seen!r}"
        seen += line
    return seen


def test_listen_prints_messages_as_they_arrive(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    a, b = tmp_path / "a", tmp_path / "b"
    create_account(a, live_server_module.url, "chat", f"demo-a-{tag}")
    create_account(b, live_server_module.url, "photos", f"demo-b-{tag}")
    assert sv(a, "send", f"demo-b-{tag}@photos", "waiting for you")[0] == 0
    listener = subprocess.Popen(
        [str(SOTTOVOCE), "--profile", str(b), "listen"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},  # one message per line, however long
    )
    try:
        shown = _read_until(listener, f"listening as demo-b-{tag}@photos")
        assert f"demo-a-{tag}@chat: waiting for you" in shown  # the backlog first
        assert sv(a, "send", f"demo-b-{tag}@photos", "live one")[0] == 0
        assert f"demo-a-{tag}@chat: live one" in _read_until(listener, "live one")
    finally:
        listener.send_signal(signal.SIGINT)
        _, err = listener.communicate(timeout=SUBPROCESS_WAIT_S)
    assert listener.returncode == 130
    assert "Traceback" not in err


def test_server_command_runs_the_relay(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            str(SOTTOVOCE),
            "server",
            "--db",
            str(tmp_path / "s.db"),
            "--port",
            str(port),
            "--apps",
            "chat",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + SUBPROCESS_WAIT_S
        while True:
            assert server.poll() is None, "the server exited"
            try:
                apps = httpx.get(f"http://127.0.0.1:{port}/v1/apps", timeout=1).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.1)
        assert apps == {"apps": ["chat"]}
        assert (tmp_path / "s.db").exists()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=SUBPROCESS_WAIT_S)
    assert "Traceback" not in err


def test_an_unforeseen_failure_is_still_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(Client, "open", broken)
    assert_one_line_error(sv(tmp_path, "inbox"), "unexpected RuntimeError: the disk caught fire")
    code, _, err = sv(tmp_path, "--verbose", "inbox")
    assert code == 1 and "Traceback" in err  # --verbose is how a developer gets it


def test_the_default_profile_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_profile() == tmp_path / "sottovoce" / "default"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # invalid per the XDG spec
    assert default_profile() == Path.home() / ".local" / "share" / "sottovoce" / "default"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("SOTTOVOCE_PROFILE", raising=False)
    assert_one_line_error(runner_result(["inbox"]), f"no profile in {default_profile()}")
