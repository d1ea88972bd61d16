"""Being added to a group shows in ``inbox`` as its own line, once."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.groups.test_cli_groups import ok, restore_sdk_logging  # noqa: F401
from tests.support.live_server import LiveServer


def test_inbox_says_who_added_this_account_to_which_group(
    live_server: LiveServer, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ha, hb = f"ea{secrets.token_hex(2)}", f"eb{secrets.token_hex(2)}"
    ok(a, "account", "create", "--server", live_server.url, "--app", "chat", "--handle", ha)
    ok(b, "account", "create", "--server", live_server.url, "--app", "photos", "--handle", hb)
    ok(a, "group", "create", "hikers")
    ok(a, "group", "add", "hikers", f"{hb}@photos")
    inbox = " ".join(ok(b, "inbox").split())
    assert f"you were added to hikers by {ha}@chat" in inbox
    assert "#hikers" in inbox
    assert "no new messages" in ok(b, "inbox")
