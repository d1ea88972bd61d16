"""The conversation view is virtualized: a long history scrolls to its first message
in headless Chromium while the page holds only a bounded number of rows.

The profile's history is written straight into its encrypted store (as 2,000 received
messages would leave it), then the person signs in to ``sottovoce app`` and scrolls.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from sottovoce.client import Client
from tests.app.app_process import AppProcess
from tests.support.browser import needs_chromium
from tests.support.live_server import LiveServer

MESSAGES = 2_000
# Rows in the page at any time: the window plus overscan, far below the history.
MAX_ROWS = 120
PASSPHRASE = "virtual list passphrase"
WAIT_MS = 30_000

pytestmark = needs_chromium


async def _profile_with_history(root: Path, server_url: str) -> tuple[str, str]:
    tag = secrets.token_hex(3)
    alice = await Client.create_account(
        root / "alice", server_url, "chat", f"alice-{tag}", passphrase=PASSPHRASE
    )
    peer = f"bob-{tag}@photos"
    now = int(time.time() * 1000) - MESSAGES * 1000
    with alice._store.transaction():  # as the fetches of 2,000 messages leave it
        for i in range(MESSAGES):
            alice._history.record(peer, f"m{i}", "in", f"message number {i}", now + i * 1000)
    await alice.close()
    return peer, f"alice-{tag}@chat"


async def _settle(page: object) -> None:
    """Three animation frames: the view has drawn and measured what a scroll showed."""
    await page.evaluate(  # type: ignore[attr-defined]
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame("
        "() => requestAnimationFrame(done))))"
    )


async def _rows(page: object) -> int:
    return int(await page.locator("#messages .msg").count())  # type: ignore[attr-defined]


async def test_scrolls_to_the_first_of_2000_messages_with_bounded_rows(
    app_server: LiveServer, tmp_path: Path, browser: object
) -> None:
    peer, _ = await _profile_with_history(tmp_path, app_server.url)
    app = AppProcess(tmp_path / "alice", app_server.url, tmp_path / "app.log")
    app.start()
    try:
        page = await browser.new_page()  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await app.open_signed_in(page, PASSPHRASE)
        await page.click(f"#conversations button:has-text('{peer}')", timeout=WAIT_MS)
        # Opened at the latest message, which is drawn; the first is not in the page.
        await page.wait_for_selector(f".msg[data-id='m{MESSAGES - 1}']", timeout=WAIT_MS)
        assert await page.locator(".msg[data-id='m0']").count() == 0
        assert 0 < await _rows(page) <= MAX_ROWS
        await _settle(page)

        # Scrolling up by hand reads older pages as the top nears; what was on screen
        # stays on screen when they are added above it.
        steps = 0
        while await page.locator(".msg[data-id='m0']").count() == 0:
            steps += 1
            assert steps < 1000, await page.evaluate(
                "[view.msgs.length, view.older, view.stick, view.loading !== null, "
                "document.getElementById('messages').scrollTop]"
            )
            seen = await page.evaluate(
                """() => {
                  const list = document.getElementById("messages");
                  const box = list.getBoundingClientRect();
                  const row = [...list.querySelectorAll(".msg")].find(
                    (r) => r.getBoundingClientRect().bottom > box.top + 1);
                  return { id: row.dataset.id, y: row.getBoundingClientRect().top - box.top,
                           top: list.scrollTop };
                }"""
            )
            await page.evaluate("document.getElementById('messages').scrollTop -= 1200")
            await _settle(page)
            moved = await page.evaluate(
                """(id) => {
                  const list = document.getElementById("messages");
                  const row = list.querySelector(`.msg[data-id="${id}"]`);
                  return row ? row.getBoundingClientRect().top - list.getBoundingClientRect().top
                             : null;
                }""",
                seen["id"],
            )
            if moved is not None:  # still drawn: it moved down by the scroll step only
                step = min(1200, seen["top"])
                assert abs(moved - seen["y"] - step) < 2, (seen, moved)
            assert await _rows(page) <= MAX_ROWS
        first = page.locator(".msg[data-id='m0']")
        await first.scroll_into_view_if_needed()
        assert await first.is_visible()
        assert "message number 0" in await first.inner_text()

        # The keyboard: End goes back to the latest, Home to the first.
        await page.focus("#messages")
        await page.keyboard.press("End")
        await page.wait_for_selector(f".msg[data-id='m{MESSAGES - 1}']", state="visible")
        await page.keyboard.press("PageUp")
        await page.keyboard.press("Home")
        await page.wait_for_selector(".msg[data-id='m0']", state="visible", timeout=WAIT_MS)
        assert await _rows(page) <= MAX_ROWS

        # 200 % zoom of a 1280 x 720 window is a 640 x 360 CSS viewport: the rows are
        # re-measured at their new height and the list still scrolls without overflow.
        await page.set_viewport_size({"width": 640, "height": 360})
        await page.keyboard.press("End")
        await page.wait_for_selector(f".msg[data-id='m{MESSAGES - 1}']", state="visible")
        await page.keyboard.press("PageUp")
        await _settle(page)
        assert await page.evaluate(
            "(() => { const l = document.getElementById('messages');"
            " return l.scrollWidth <= l.clientWidth; })()"
        )
        assert 0 < await _rows(page) <= MAX_ROWS
        assert errors == []
    finally:
        app.stop()
