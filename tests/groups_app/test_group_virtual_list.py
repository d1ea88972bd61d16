"""A group's view is the same virtualized, paged list as a direct chat's: in headless
Chromium a group of 2,000 messages opens at its latest, Home reads back to its first,
and the page holds a bounded number of rows throughout (no cap at 500)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from sottovoce.client import Client
from sottovoce.client.group_content import GroupContent
from tests.app.app_process import AppProcess
from tests.app.test_virtual_list import (  # noqa: F401 (the skip without chromium)
    MAX_ROWS,
    WAIT_MS,
    pytestmark,
)
from tests.support.live_server import LiveServer

MESSAGES = 2_000
PASSPHRASE = "group list passphrase"


async def test_a_group_of_2000_messages_reads_back_to_its_first(
    live_server: LiveServer,
    tmp_path: Path,
    browser: object,
) -> None:
    alice = await Client.create_account(
        tmp_path / "alice",
        live_server.url,
        "chat",
        f"a-{secrets.token_hex(3)}",
        passphrase=PASSPHRASE,
    )
    try:
        group_id = (await alice.groups.create("long")).group_id
        start = int(time.time() * 1000) - MESSAGES * 1000
        with alice._store.transaction():  # as 2,000 received group messages leave it
            for i in range(MESSAGES):
                content = GroupContent("text", f"m{i}", f"group message {i}", start + i * 1000)
                alice.groups.chat.record(
                    group_id, content, "bob@photos", 1, own=False, now_ms=start
                )
    finally:
        await alice.close()

    app = AppProcess(tmp_path / "alice", live_server.url, tmp_path / "app.log")
    app.start()
    try:
        page = await browser.new_page()  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await app.open_signed_in(page, PASSPHRASE)
        await page.click("#conversations button:has-text('#long')", timeout=WAIT_MS)
        await page.wait_for_selector(f".msg[data-id='m{MESSAGES - 1}']", timeout=WAIT_MS)
        rows = page.locator("#messages .msg")
        assert await page.locator(".msg[data-id='m0']").count() == 0
        assert 0 < await rows.count() <= MAX_ROWS

        await page.focus("#messages")
        await page.keyboard.press("Home")  # every older page, then the first message
        first = await page.wait_for_selector(".msg[data-id='m0']", state="visible", timeout=WAIT_MS)
        assert "group message 0" in await first.inner_text()
        assert 0 < await rows.count() <= MAX_ROWS
        await page.keyboard.press("End")
        await page.wait_for_selector(f".msg[data-id='m{MESSAGES - 1}']", state="visible")
        assert errors == []
    finally:
        app.stop()
