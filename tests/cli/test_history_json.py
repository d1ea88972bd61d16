"""``history --json`` and ``group history --json``: one JSON object a message, for scripts.

Whatever the width of the console and whatever people wrote, each message is one
line that parses back to exactly what was sent, and the output is ASCII only, so
no control character or bidirectional override reaches a terminal that shows it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from tests.support.cli import create_account, sv
from tests.support.live_server import LiveServer

# Long enough to wrap in any table, with markup, a terminal escape, a bidi override
# and a line break in it.
AWKWARD = "[bold]not bold[/] \x1b[31mred?\x1b[0m \u202eevil\u202c\nsecond line " + "word " * 60


def lines_of(out: str) -> list[dict[str, object]]:
    assert out.isascii(), out
    return [json.loads(line) for line in out.splitlines()]


def test_one_to_one_history_as_json(live_server: LiveServer, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    create_account(a, live_server.url, "chat", "json-a")
    create_account(b, live_server.url, "photos", "json-b")
    assert sv(a, "send", "json-b@photos", AWKWARD)[0] == 0
    assert sv(b, "inbox")[0] == 0
    assert sv(b, "send", "json-a@chat", "plain reply")[0] == 0
    code, out, err = sv(b, "history", "json-a@chat", "--json")
    assert code == 0, err
    received, sent = lines_of(out)
    assert [(m["from"], m["direction"], m["text"]) for m in (received, sent)] == [
        ("json-a@chat", "in", AWKWARD),
        ("json-b@photos", "out", "plain reply"),
    ]
    assert received["forwarded"] == 0 and received["id"] != sent["id"]
    assert datetime.fromisoformat(str(received["time"])).tzinfo is not None
    # The sender's own store holds the message under the same id (a has not fetched
    # the reply yet, so it is a's latest).
    code, out, _ = sv(a, "history", "json-b@photos", "--json", "--limit", "1")
    assert code == 0
    assert [(m["id"], m["direction"]) for m in lines_of(out)] == [(received["id"], "out")]
    code, out, _ = sv(a, "history", "nobody@chat", "--json")
    assert code == 0 and out == ""


def test_group_history_as_json(live_server: LiveServer, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    create_account(a, live_server.url, "chat", "jg-a")
    create_account(b, live_server.url, "photos", "jg-b")
    assert sv(b, "send", "jg-a@chat", "hi first")[0] == 0  # a contact: no request
    assert sv(a, "inbox")[0] == 0
    assert sv(a, "group", "create", "plans")[0] == 0
    assert sv(a, "group", "add", "plans", "jg-b@photos")[0] == 0
    assert sv(a, "group", "send", "plans", AWKWARD)[0] == 0
    assert sv(b, "inbox")[0] == 0
    code, out, err = sv(b, "group", "history", "plans", "--json")
    assert code == 0, err
    (message,) = lines_of(out)
    assert (message["from"], message["group"], message["text"]) == ("jg-a@chat", "plans", AWKWARD)
    code, out, _ = sv(a, "group", "history", "plans", "--json")
    assert [m["id"] for m in lines_of(out)] == [message["id"]]
