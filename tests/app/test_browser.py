"""End to end in Debian's headless Chromium: two people on two apps use the app.

Each person runs their own ``sottovoce app`` process (their keys stay in it) in
front of one real relay server; each browser context is one person's window.
Screenshots of the main screens go to test-artifacts/app/.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.app.app_process import AppProcess
from tests.support.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "app"
WAIT_MS = 30_000

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium (tools/debian-packages.txt)"
)


@pytest.fixture
def apps(live_server: LiveServer, tmp_path: Path) -> Iterator[list[AppProcess]]:
    started = []
    try:
        for name in ("alice", "bob"):
            process = AppProcess(tmp_path / name, live_server.url, tmp_path / f"{name}.log")
            process.start()
            started.append(process)
        yield started
    finally:
        for process in started:
            process.stop()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _sign_up(page: object, app: AppProcess, app_name: str, handle: str) -> None:
    await page.goto(app.launch_url)  # type: ignore[attr-defined]
    await page.fill("#su-app", app_name)  # type: ignore[attr-defined]
    await page.fill("#su-handle", handle)  # type: ignore[attr-defined]
    await page.fill("#su-pass", "correct horse battery staple")  # type: ignore[attr-defined]
    await page.keyboard.press("Enter")  # type: ignore[attr-defined]
    await page.wait_for_selector(  # type: ignore[attr-defined]
        f"#whoami:has-text('{handle}@{app_name}')", timeout=WAIT_MS
    )


async def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


async def test_two_people_sign_up_and_talk_live(apps: list[AppProcess], browser: object) -> None:
    alice_app, bob_app = apps
    suffix = secrets.token_hex(3)
    alice_handle, bob_handle = f"alice-{suffix}", f"bob-{suffix}"
    alice_window = await browser.new_context()  # type: ignore[attr-defined]
    bob_window = await browser.new_context()  # type: ignore[attr-defined]
    alice = await alice_window.new_page()
    bob = await bob_window.new_page()

    await alice.goto(alice_app.launch_url)
    await alice.wait_for_selector("#signup-form:not([hidden])")
    assert await alice.input_value("#su-server") == alice_app.server_url
    assert "#k=" not in alice.url  # the secret left the address bar
    await _shot(alice, "01-sign-up")
    await _sign_up(alice, alice_app, "chat", alice_handle)
    await _sign_up(bob, bob_app, "photos", bob_handle)
    bob_address = f"{bob_handle}@photos"
    alice_address = f"{alice_handle}@chat"

    # Alice writes first, using only the keyboard.
    await alice.focus("#new-peer")
    await alice.keyboard.type(bob_address)
    await alice.keyboard.press("Enter")
    await alice.wait_for_selector(f"#view-title:has-text('{bob_address}')")
    await alice.keyboard.type("hello from the chat app")
    await alice.keyboard.press("Enter")
    await alice.wait_for_selector(".msg.out .state[data-state='sent']", timeout=WAIT_MS)

    # A stranger's first message lands in Bob's message requests, live.
    await bob.wait_for_selector(f"#requests button:has-text('{alice_address}')", timeout=WAIT_MS)
    await _shot(bob, "02-message-request")
    await bob.click(f"#requests button:has-text('{alice_address}')")
    await bob.wait_for_selector(".msg.in:has-text('hello from the chat app')")
    await bob.click("#request-bar button[data-request='accept']")
    await bob.wait_for_selector("#request-bar", state="hidden")
    await bob.fill("#compose", "hi alice, live from photos")
    await bob.keyboard.press("Enter")

    # Alice's open conversation updates by itself (WebSocket from her process).
    await alice.wait_for_selector(
        ".msg.in:has-text('hi alice, live from photos')", timeout=WAIT_MS
    )
    await _shot(alice, "03-conversation")

    # Bob reads on; Alice's next messages show as unread in Bob's list until opened.
    await bob.fill("#new-peer", "someone-else@chat")
    await bob.keyboard.press("Enter")
    await bob.wait_for_selector("#view-title:has-text('someone-else@chat')")
    await alice.fill("#compose", "two")
    await alice.keyboard.press("Enter")
    await alice.fill("#compose", "three")
    await alice.keyboard.press("Enter")
    await bob.wait_for_selector(
        f"#conversations button:has-text('{alice_address}') .badge:has-text('2')", timeout=WAIT_MS
    )
    await _shot(bob, "04-conversation-list")

    # Local search over Bob's history.
    await bob.fill("#search-input", "LIVE from")
    await bob.keyboard.press("Enter")
    await bob.wait_for_selector("#hits button:has-text('hi alice, live from photos')")
    await _shot(bob, "05-search")

    # Readable at 200% zoom: nothing overflows sideways.
    await bob.set_viewport_size({"width": 640, "height": 900})  # 1280 px wide at 200%
    width = await bob.evaluate("document.documentElement.scrollWidth")
    assert width <= 640
    await _shot(bob, "06-zoom-200")
