"""The safety features leave on the server only what DESIGN.md lists.

After a scripted mix of every control (message requests accepted and deleted, a
plain block, a block and report, a verified report, a minor connecting, a
forward chain), the server's files are searched as in
tests/integration/test_server_learns_nothing.py: no message text is there except
the one a person chose to reveal in a report. Its tables hold no row that ties
two people together for a choice that stays on the client (accepting or deleting
a request, a plain block, forwarding), and the tables these features added hold
exactly the columns docs/safety.md declares.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.demo.leaks import find_leaks, server_files
from tests.safety.conftest import APPS
from tests.support.live_server import LiveServer

CANARIES = {
    "request": "canary-5a1e request: hello, we never met",
    "accepted reply": "canary-77c0 reply: nice to meet you",
    "deleted": "canary-d3l3 deleted: spam you will delete",
    "blocked": "canary-b10c blocked: you will never see this",
    "forwarded": "canary-f0rw forwarded: pass it on",
    "minor": "canary-m1n0 minor: hi aunt",
}
REPORTED = "canary-r3p0 reported: revealed on purpose"
# The tables the safety controls added and their columns (docs/safety.md).
SAFETY_TABLES = {
    "reported_blocks": {"blocker_account_id", "blocked_account_id", "day"},
    "minor_connections": {"minor_account_id", "peer_account_id", "day"},
    "moderation_actions": {
        "id",
        "account_id",
        "action",
        "actor",
        "reason",
        "signals",
        "created_ms",
    },
    "account_standing": {"account_id", "standing", "action_id"},
}


def rows(db: Path) -> dict[str, list[dict[str, Any]]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")
        ]
        return {t: [dict(r) for r in conn.execute(f'SELECT * FROM "{t}"')] for t in tables}


def ties(row: dict[str, Any], one: tuple[int, str], other: tuple[int, str]) -> bool:
    """Whether a row names both accounts (by account id column or by address)."""

    def names(account: tuple[int, str]) -> bool:
        account_id, address = account
        return any(
            (key.endswith("account_id") and value == account_id)
            or (isinstance(value, str) and address in value)
            for key, value in row.items()
        )

    return names(one) and names(other)


@pytest.mark.sqlite_only  # it reads the server's SQLite file and its -wal directly
async def test_the_safety_controls_leave_only_what_design_md_lists(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "server", apps=APPS)
    server.directory.mkdir()
    server.start()
    made: list[Client] = []

    async def make(name: str, app: str = "chat", *, minor: bool = False) -> Client:
        handle = f"{name}-{secrets.token_hex(3)}"
        client = await Client.create_account(
            tmp_path / handle, server.url, app, handle, minor=minor
        )
        made.append(client)
        return client

    try:
        bob = await make("bob", "photos")
        stranger, pest, nuisance, spammer = [
            await make(n) for n in ("stranger", "pest", "nuisance", "spammer")
        ]
        await stranger.send(bob.address, CANARIES["request"])
        await pest.send(bob.address, CANARIES["deleted"])
        sent = await spammer.send(bob.address, REPORTED)
        await bob.fetch()
        await bob.accept_request(stranger.address)
        await bob.send(stranger.address, CANARIES["accepted reply"])
        bob.delete_request(pest.address)
        await bob.block(nuisance.address)  # plain: stays on bob's device
        await nuisance.send(bob.address, CANARIES["blocked"])
        await bob.report([sent.message_id], "spam")
        await bob.block(spammer.address, report=True)
        carol, dave = await make("carol"), await make("dave")
        [reply] = await stranger.fetch()
        await stranger.forward(reply.message_id, [carol.address])
        [received] = await carol.fetch()
        await carol.forward(received.message_id, [dave.address])
        assert (await dave.fetch())[0].forwarded == 2
        await carol.send(dave.address, CANARIES["forwarded"])
        await dave.fetch()
        aunt = await make("aunt")
        niece = await make("niece", "kids", minor=True)
        await niece.send(aunt.address, CANARIES["minor"])
        await aunt.fetch()
        for client in made:
            await client.fetch()
        accounts = {c.address: c for c in made}
    finally:
        for client in made:
            await client.close()
        server.stop()

    files = server_files(server.directory)
    assert find_leaks(files, {k: v.encode() for k, v in CANARIES.items()}) == []
    # Positive control: the text bob chose to reveal is there, in the report.
    assert find_leaks(files, {"reported": REPORTED.encode()})

    tables = rows(server.db_path)
    with sqlite3.connect(server.db_path) as conn:
        for table, columns in SAFETY_TABLES.items():
            found = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
            assert found == columns, table
    ids = {
        f"{r['handle']}@{r['app']}": (r["id"], f"{r['handle']}@{r['app']}")
        for r in tables["accounts"]
    }
    assert set(ids) == set(accounts)
    assert tables["queued_messages"] == []  # everything was acknowledged

    def tied(one: Client, other: Client) -> list[str]:
        return [
            table
            for table, table_rows in tables.items()
            if table != "accounts"
            for row in table_rows
            if ties(row, ids[one.address], ids[other.address])
        ]

    # Choices that stay on the client leave no row naming both people.
    assert tied(bob, stranger) == []  # request accepted, replied to
    assert tied(bob, pest) == []  # request deleted
    assert tied(bob, nuisance) == []  # plain block
    assert tied(carol, dave) == tied(stranger, carol) == []  # forwards
    # What a person chose to tell the server is there, and only there.
    assert sorted(set(tied(bob, spammer))) == [
        "abuse_report_messages",
        "abuse_reports",
        "reported_blocks",
    ]
    assert tied(niece, aunt) == ["minor_connections"]
    assert tables["moderation_actions"] == tables["account_standing"] == []
