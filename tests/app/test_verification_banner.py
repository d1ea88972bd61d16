"""A verified contact links a new device: the app says so in a banner before
anything is sent, refuses to send until the new safety number is compared, and
sends again once it is marked verified (Debian's headless Chromium, real server)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sottovoce.client import Client
from tests.app.test_browser import ARTIFACTS, WAIT_MS, Apps, _sign_up, apps  # noqa: F401
from tests.support.live_server import LiveServer
from tests.support.people import link


async def _verify(page: Any) -> str:
    await page.click("#verify-button")
    await page.wait_for_selector("#verify-dialog[open] #safety-qr[src^='data:image/png']")
    digits = await page.text_content("#safety-digits") or ""
    await page.click("#mark-verified")
    await page.wait_for_selector("#verified-state.verified", timeout=WAIT_MS)
    return digits


async def test_a_new_device_of_a_verified_contact_shows_a_banner_and_holds_sending(
    apps: Apps,  # noqa: F811
    browser: Any,
    app_server: LiveServer,
    tmp_path: Path,
) -> None:
    tag = secrets.token_hex(3)
    bob = await Client.create_account(tmp_path / "bob", app_server.url, "photos", f"bob-{tag}")
    linked: list[Client] = []
    try:
        alice_app = apps.start("alice")
        page = await (await browser.new_context()).new_page()
        await _sign_up(page, alice_app, "chat", f"alice-{tag}")
        await page.fill("#new-peer", bob.address)
        await page.keyboard.press("Enter")
        await page.fill("#compose", "before you got a tablet")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(".msg.out .state[data-state='sent']", timeout=WAIT_MS)
        first = await _verify(page)
        assert await page.is_hidden("#banner")

        linked.append(await link(bob, tmp_path / "bob-tablet", app_server.url))
        await page.reload()  # Alice comes back to the conversation later
        await page.click(f"#conversations button:has-text('{bob.address}')", timeout=WAIT_MS)
        await page.wait_for_selector(
            f"#banner:not([hidden]):has-text('The safety number with {bob.address} has changed')",
            timeout=WAIT_MS,
        )
        assert await page.text_content("#verified-state") == "Safety number changed"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "48-safety-number-changed.png"), full_page=True)

        await page.fill("#compose", "is this still you?")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(
            "#notice:has-text('compare it again (Verify safety number) before sending')",
            timeout=WAIT_MS,
        )
        await page.wait_for_selector(".msg .state[data-state='not sent']")

        second = await _verify(page)  # compared again with Bob
        assert second != first
        await page.wait_for_selector("#banner", state="hidden", timeout=WAIT_MS)
        await page.fill("#compose", "checked again")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(
            ".msg.out:has-text('checked again') .state[data-state='sent']", timeout=WAIT_MS
        )
        texts = [m.text for m in await bob.fetch()]
        assert texts == ["before you got a tablet", "checked again"]
    finally:
        for client in (*linked, bob):
            await client.close()
