"""The safety commands a person and an operator type, against the real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sottovoce.cli.main import app
from tests.safety.conftest import APPS
from tests.support.cli import create_account, runner, sv
from tests.support.live_server import LiveServer
from tests.support.people import running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from running(LiveServer(tmp_path_factory.mktemp("cli-safety"), apps=APPS))


def database(server: LiveServer) -> str:
    """What ``--db`` names: the server's SQLite file, or its PostgreSQL database."""
    return server.db_url or str(server.db_path)


def person(tmp_path: Path, server: LiveServer, handle: str, app_name: str = "chat") -> Path:
    create_account(tmp_path / handle, server.url, app_name, handle)
    return tmp_path / handle


def test_a_request_is_shown_apart_then_accepted(server: LiveServer, tmp_path: Path) -> None:
    stranger = person(tmp_path, server, "cli-stranger")
    bob = person(tmp_path, server, "cli-bob", "photos")
    assert sv(stranger, "send", "cli-bob@photos", "hello from nowhere")[0] == 0
    code, out, _ = sv(bob, "inbox")
    assert code == 0
    assert "1 new message(s) in message requests" in out and "hello from nowhere" in out
    assert "no conversations yet" in sv(bob, "conversations")[1]
    code, out, _ = sv(bob, "requests")
    assert code == 0 and "cli-stranger@chat" in out
    assert sv(bob, "requests", "accept", "cli-stranger@chat")[0] == 0
    assert "no message requests" in sv(bob, "requests")[1]
    assert "cli-stranger@chat" in sv(bob, "conversations")[1]


def test_block_and_unblock(server: LiveServer, tmp_path: Path) -> None:
    pest = person(tmp_path, server, "cli-pest")
    bob = person(tmp_path, server, "cli-bob2")
    assert sv(pest, "send", "cli-bob2@chat", "first")[0] == 0
    sv(bob, "inbox")
    code, out, _ = sv(bob, "requests", "block", "cli-pest@chat", "--report")
    assert code == 0 and "reported" in out
    assert sv(pest, "send", "cli-bob2@chat", "you cannot see me")[0] == 0
    assert "no new messages" in sv(bob, "inbox")[1]
    assert "cli-pest@chat" in sv(bob, "blocked")[1]
    assert sv(bob, "unblock", "cli-pest@chat")[0] == 0
    assert "nobody is blocked" in sv(bob, "blocked")[1]
    code, _, err = sv(bob, "unblock", "cli-pest@chat")
    assert code == 1 and err.startswith("error: ") and "not blocked" in err


def test_forward_with_ids_and_labels(server: LiveServer, tmp_path: Path) -> None:
    alice = person(tmp_path, server, "cli-alice")
    bob = person(tmp_path, server, "cli-bob3")
    carol = person(tmp_path, server, "cli-carol")
    assert sv(alice, "send", "cli-bob3@chat", "pass this on")[0] == 0
    sv(bob, "inbox")
    code, out, _ = sv(bob, "history", "cli-alice@chat", "--json")
    assert code == 0
    (received,) = [json.loads(line) for line in out.splitlines()]
    assert (received["from"], received["text"]) == ("cli-alice@chat", "pass this on")
    message_id = received["id"]
    code, out, err = sv(bob, "forward", message_id, "cli-carol@chat")
    assert code == 0, err
    code, out, _ = sv(carol, "inbox")
    assert "[forwarded] pass this on" in out


def test_the_operator_desk(server: LiveServer, tmp_path: Path) -> None:
    troll = person(tmp_path, server, "cli-troll")
    db = database(server)
    result = runner.invoke(
        app, ["moderation", "act", "cli-troll@chat", "restrict", "--reason", "spam", "--db", db]
    )
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["moderation", "standing", "--db", db])
    assert "cli-troll@chat: restricted" in result.stdout
    result = runner.invoke(app, ["moderation", "audit", "cli-troll@chat", "--db", db])
    assert "restrict" in result.stdout and "by operator: spam" in result.stdout
    code, out, _ = sv(troll, "standing")
    assert code == 0 and "restricted" in out and "spam" in out


def test_report_a_request_from_the_requests_list(server: LiveServer, tmp_path: Path) -> None:
    scammer = person(tmp_path, server, "cli-scammer")
    bob = person(tmp_path, server, "cli-bob4")
    assert sv(scammer, "send", "cli-bob4@chat", "you won a prize, send your card number")[0] == 0
    assert sv(scammer, "send", "cli-bob4@chat", "hurry")[0] == 0
    sv(bob, "inbox")
    code, out, err = sv(bob, "requests", "report", "cli-scammer@chat", "--reason", "scam")
    assert code == 0, err
    assert "verified by request-signature" in out and "blocked" in out
    assert "no message requests" in sv(bob, "requests")[1]
    db = database(server)
    result = runner.invoke(
        app, ["moderation", "reports", "--account", "cli-scammer@chat", "--db", db]
    )
    assert "you won a prize, send your card number" in result.stdout
    assert "hurry" in result.stdout and "scam" in result.stdout
    code, _, err = sv(bob, "requests", "report", "cli-scammer@chat", "--reason", "again")
    assert code == 1 and "no message request" in err


def test_a_strangers_group_invite_is_joined_or_declined(server: LiveServer, tmp_path: Path) -> None:
    spammer = person(tmp_path, server, "cli-spammer")
    dana = person(tmp_path, server, "cli-dana")
    eve = person(tmp_path, server, "cli-eve")
    assert sv(spammer, "group", "create", "deals")[0] == 0
    assert sv(spammer, "group", "add", "deals", "cli-dana@chat", "cli-eve@chat")[0] == 0
    assert sv(spammer, "group", "send", "deals", "cheap watches")[0] == 0
    for profile in (dana, eve):
        code, out, _ = sv(profile, "inbox")
        assert code == 0 and "message request" in out and "cheap watches" not in out
        assert "#deals from cli-spammer@chat: 1 message(s) held" in sv(profile, "requests")[1]
    assert sv(dana, "requests", "join", "deals")[0] == 0
    assert "cheap watches" in sv(dana, "group", "history", "deals")[1]
    assert sv(eve, "requests", "decline", "deals")[0] == 0
    assert "no message requests" in sv(eve, "requests")[1]
    assert "no groups yet" in sv(eve, "group", "list")[1]
