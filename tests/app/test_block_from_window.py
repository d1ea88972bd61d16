"""Block and report from a conversation, in Debian's headless Chromium: the person
confirms, the conversation closes, and the blocked sender's later messages never
reach the page or the local history."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from sottovoce.client import Client
from tests.app.test_browser import WAIT_MS, Apps, _sign_up, apps  # noqa: F401
from tests.support.live_server import LiveServer

SEARCH = "async (q) => (await (await fetch(`/api/search?q=${q}`)).json()).hits.length"


async def test_block_and_report_from_the_conversation(
    apps: Apps,  # noqa: F811
    browser: Any,
    app_server: LiveServer,
    tmp_path: Path,
) -> None:
    tag = secrets.token_hex(3)
    alice = await Client.create_account(tmp_path / "alice", app_server.url, "chat", f"a-{tag}")
    try:
        bob_app = apps.start("bob")
        page = await (await browser.new_context()).new_page()
        await _sign_up(page, bob_app, "photos", f"bob-{tag}")
        bob_address = f"bob-{tag}@photos"
        await alice.send(bob_address, "hello, want to buy pills?")
        await page.click(f"#requests button:has-text('{alice.address}')", timeout=WAIT_MS)
        await page.click("#request-bar button[data-request='accept']")
        await page.wait_for_selector("#request-bar", state="hidden", timeout=WAIT_MS)

        asked: list[str] = []

        async def confirm(dialog: Any) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.once("dialog", lambda dialog: asyncio.ensure_future(confirm(dialog)))
        await page.click("#block-report-button")
        await page.wait_for_selector(f"#notice:has-text('{alice.address} is blocked')")
        assert asked == [f"Block and report {alice.address}? You will not receive their messages."]
        assert await page.is_hidden("#view")

        await alice.send(bob_address, "are you there? later message")
        assert await page.evaluate(SEARCH, "pills") == 1  # the earlier one stays
        for _ in range(20):  # Bob's process would have stored it by now
            await asyncio.sleep(0.2)
            assert await page.evaluate(SEARCH, "later") == 0
        assert await page.locator(".msg:has-text('later message')").count() == 0
    finally:
        await alice.close()
