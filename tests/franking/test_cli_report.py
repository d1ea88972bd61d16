"""``sottovoce report``: a person reports a received message from the command line."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tests.support.cli import create_account, sv
from tests.support.live_server import LiveServer


def test_report_a_received_message_then_a_refused_replay(relay: LiveServer, tmp_path: Path) -> None:
    sender, victim = f"s-{secrets.token_hex(3)}", f"v-{secrets.token_hex(3)}"
    for handle, app_name in ((sender, "chat"), (victim, "photos")):
        create_account(tmp_path / handle, relay.url, app_name, handle)
    assert sv(tmp_path / sender, "send", f"{victim}@photos", "you will regret this")[0] == 0
    code, out, _ = sv(tmp_path / victim, "inbox")
    assert code == 0 and "you will regret this" in out
    code, out, err = sv(tmp_path / victim, "history", f"{sender}@chat", "--json")
    assert code == 0, err
    (received,) = [json.loads(line) for line in out.splitlines()]
    assert (received["from"], received["text"]) == (f"{sender}@chat", "you will regret this")
    message_id = received["id"]
    code, out, err = sv(tmp_path / victim, "report", message_id, "--reason", "a threat")
    assert code == 0, err
    assert f"filed about {sender}@chat" in out and "signed the send" in out
    code, _, err = sv(tmp_path / victim, "report", message_id, "--reason", "again")
    assert code == 1 and "already reported" in err
    code, _, err = sv(tmp_path / victim, "report", "no-such-message", "--reason", "x")
    assert code == 1 and "no received message" in err
    assert sv(tmp_path / victim, "report", message_id)[0] == 2
