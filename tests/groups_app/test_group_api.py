"""The app process serves a group's history in pages, as it does a direct chat's: a
group of 1,200 messages reads back whole (no cap at the latest 500), with its
timer, attachments and receipts in the same JSON."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

from sottovoce.client import Client
from sottovoce.client.group_content import GroupContent
from tests.app.app_process import AppProcess
from tests.support.live_server import LiveServer

MESSAGES = 1_200
PASSPHRASE = "a passphrase"


async def test_a_long_group_history_pages_back_to_its_first_message(
    live_server: LiveServer, tmp_path: Path
) -> None:
    profile = tmp_path / "alice"
    alice = await Client.create_account(
        profile, live_server.url, "chat", f"alice-{secrets.token_hex(3)}", passphrase=PASSPHRASE
    )
    try:
        info = await alice.groups.create("long")
        with alice._store.transaction():  # as a long-lived group leaves the store
            for i in range(MESSAGES):
                alice.groups.chat.record(
                    info.group_id,
                    GroupContent("text", f"m{i}", f"message {i}", 1_000 + i),
                    "someone@photos",
                    1,
                    own=False,
                    now_ms=2_000,
                )
    finally:
        await alice.close()

    app = AppProcess(profile, live_server.url, tmp_path / "app.log")
    app.start()
    try:
        with app.signed_in(PASSPHRASE) as http:
            (listed,) = [c for c in http.get("/api/conversations").json()["conversations"]]
            assert listed["id"] == "#long" and listed["unread"] == MESSAGES
            path = f"/api/conversations/{quote('#long', safe='')}/messages"
            latest = http.get(path).json()
            assert latest["kind"] == "group" and latest["timer"] == 0
            assert len(latest["messages"]) == 200 and latest["older"] is not None
            texts = [m["text"] for m in latest["messages"]]
            cursor = latest["older"]
            while cursor is not None:
                page = http.get(path, params={"before": cursor, "limit": 500}).json()
                assert page["messages"]
                texts = [m["text"] for m in page["messages"]] + texts
                cursor = page["older"]
            assert texts == [f"message {i}" for i in range(MESSAGES)]
            (message,) = http.get(path, params={"limit": 1}).json()["messages"]
            assert message["direction"] == "in" and message["sender"] == "someone@photos"
            assert message["attachment"] is None and message["expires"] is None
            # Opening the latest page read it.
            (listed,) = http.get("/api/conversations").json()["conversations"]
            assert listed["unread"] == 0
            too_many = http.get(path, params={"limit": 501})
            assert too_many.status_code == 422
    finally:
        app.stop()
