"""Receipts and typing indicators turned off (and on again) in the app's Privacy panel.

Bob uses the app in Debian's headless Chromium; Alice is an SDK client with both on.
With Bob's two settings off, Alice's message is shown in Bob's open conversation and
Bob types before answering, yet Alice's device gets neither a receipt nor a typing
indicator before Bob's answer arrives (both would travel ahead of it, on the same
queue). Turned on again, the same steps give Alice both: the test can tell.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from sottovoce.client import Client
from tests.app.test_browser import WAIT_MS, Apps, _sign_up, apps  # noqa: F401
from tests.support.live_server import LiveServer

SETTINGS = "async () => (await fetch('/api/settings')).json()"


async def _until_text(alice: Client, text: str, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while text not in [m.text for m in await alice.fetch()]:
        assert asyncio.get_running_loop().time() < deadline, f"{text!r} never arrived"
        await asyncio.sleep(0.2)


async def _until(page: Any, script: str, expected: object, timeout_s: float = 30.0) -> None:
    """Evaluate ``script`` in the page (the CSP forbids string eval, so no
    ``wait_for_function``) until it gives ``expected``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (got := await page.evaluate(script)) != expected:
        assert asyncio.get_running_loop().time() < deadline, got
        await asyncio.sleep(0.1)


async def _set(page: Any, receipts: bool, typing: bool) -> None:
    # The boxes are disabled until the panel has loaded the settings: before, a box
    # shows its default, and ticking it to the state it shows would change nothing.
    for box in ("#receipts", "#typing-setting"):
        await page.wait_for_selector(f"{box}:enabled", timeout=WAIT_MS)
    for box, on in (("#receipts", receipts), ("#typing-setting", typing)):
        await page.set_checked(box, on)
    await _until(page, SETTINGS, {"receipts": receipts, "typing": typing})


async def _read_and_answer(page: Any, shown: str, answer: str) -> None:
    """Bob sees ``shown`` in the open conversation, types, then sends ``answer``."""
    await page.wait_for_selector(f".msg.in:has-text('{shown}')", timeout=WAIT_MS)
    await page.focus("#compose")
    await page.keyboard.type("let me think")
    await page.fill("#compose", answer)
    await page.keyboard.press("Enter")
    await page.wait_for_selector(
        f".msg.out:has-text('{answer}') .state[data-state='sent']", timeout=WAIT_MS
    )


async def test_receipts_and_typing_can_each_be_turned_off(
    apps: Apps,  # noqa: F811
    browser: Any,
    app_server: LiveServer,
    tmp_path: Path,
) -> None:
    tag = secrets.token_hex(3)
    alice = await Client.create_account(tmp_path / "alice", app_server.url, "chat", f"a-{tag}")
    alice.set_receipts(True)
    alice.set_typing_indicators(True)
    typing: list[bool] = []
    alice.on_typing = lambda _peer, started: typing.append(started)
    try:
        bob_app = apps.start("bob")
        page = await (await browser.new_context()).new_page()
        await _sign_up(page, bob_app, "photos", f"bob-{tag}")
        bob_address = f"bob-{tag}@photos"
        await alice.send(bob_address, "hello bob")
        await page.click(f"#requests button:has-text('{alice.address}')", timeout=WAIT_MS)
        await page.click("#request-bar button[data-request='accept']")
        await page.wait_for_selector("#request-bar", state="hidden", timeout=WAIT_MS)

        # Off, in the Privacy panel; still off when the page is loaded again.
        # Ticked as soon as the panel has loaded the settings (it keeps the boxes
        # disabled until then); the ticks must stick on screen and on the device.
        await page.click("#settings-panel summary")
        await _set(page, receipts=False, typing=False)
        both = "() => ['receipts', 'typing-setting'].map((b) => document.getElementById(b).checked)"
        await asyncio.sleep(1)  # the panel's own load has answered
        await _until(page, both, [False, False])
        await page.goto(bob_app.base)  # the session cookie stays; the token is spent
        await page.wait_for_selector(f"#whoami:has-text('{bob_address}')", timeout=WAIT_MS)
        await page.click("#settings-panel summary")
        await _until(page, SETTINGS, {"receipts": False, "typing": False})
        await page.click(f"#conversations button:has-text('{alice.address}')")

        unseen = await alice.send(bob_address, "are you there?")
        await _read_and_answer(page, "are you there?", "fence one")
        await _until_text(alice, "fence one")
        await asyncio.sleep(1)  # anything sent before the fence has surely arrived
        await alice.fetch()
        assert alice.message_state(unseen.message_id) in (None, "sent")
        assert typing == []

        # On again: the same steps now reach Alice.
        await _set(page, receipts=True, typing=True)
        seen = await alice.send(bob_address, "and now?")
        await _read_and_answer(page, "and now?", "fence two")
        await _until_text(alice, "fence two")
        deadline = asyncio.get_running_loop().time() + 30
        while alice.message_state(seen.message_id) != "read" or True not in typing:
            assert asyncio.get_running_loop().time() < deadline, (
                alice.message_state(seen.message_id),
                typing,
            )
            await asyncio.sleep(0.2)
            await alice.fetch()
        assert alice.message_state(unseen.message_id) in (None, "sent")  # never backwards
    finally:
        await alice.close()
