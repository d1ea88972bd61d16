"""``sottovoce group …`` against the real server, as a person types it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sottovoce.cli.render import StderrLog
from tests.support.cli import sv
from tests.support.live_server import LiveServer


@pytest.fixture(autouse=True)
def restore_sdk_logging() -> Iterator[None]:
    logger = logging.getLogger("sottovoce")
    level = logger.level
    yield
    for handler in [h for h in logger.handlers if isinstance(h, StderrLog)]:
        logger.removeHandler(handler)
    logger.setLevel(level)


def ok(profile: Path, *args: str) -> str:
    code, out, err = sv(profile, *args)
    assert code == 0, err or out
    return out


def test_a_group_across_apps_by_hand(live_server: LiveServer, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for profile, app_name, handle in ((a, "chat", "ga"), (b, "photos", "gb"), (c, "chat", "gc")):
        ok(profile, "account", "create", "--server", live_server.url, "--app", app_name,
           "--handle", handle)  # fmt: skip
    assert "created #family" in ok(a, "group", "create", "family")
    # Both wrote to ga first, so ga's invite is no message request (docs/safety.md).
    ok(b, "send", "ga@chat", "add me to the family group")
    ok(c, "send", "ga@chat", "me too")
    added = ok(a, "group", "add", "family", "gb@photos", "gc@chat")
    assert "ga@chat, gb@photos, gc@chat" in added
    ok(a, "group", "send", "family", "dinner at 8?")
    inbox = ok(b, "inbox")
    assert "ga@chat #family" in inbox and "dinner at 8?" in inbox
    assert "#family" in ok(b, "group", "list")
    ok(b, "group", "send", "family", "yes!")
    ok(a, "group", "remove", "family", "gc@chat")
    ok(a, "group", "update", "family")
    history = ok(a, "group", "history", "family")
    assert "dinner at 8?" in history and "yes!" in history
    # gc sees what came before its removal, then learns it is out.
    inbox = ok(c, "inbox")
    assert "dinner at 8?" in inbox and "yes!" in inbox
    assert "no groups yet" in ok(c, "group", "list")
    ok(b, "group", "leave", "family")
    assert "no groups yet" in ok(b, "group", "list")
    code, _, err = sv(b, "group", "send", "family", "hello?")
    assert code == 1 and "no group named 'family'" in err and "Traceback" not in err
    code, _, err = sv(a, "group", "create", "")
    assert code == 1 and "group name" in err
