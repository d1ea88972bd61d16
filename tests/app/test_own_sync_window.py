"""A person's second device, open in the app, follows what the first device does:
a message sent, deleted for everyone, deleted for me, a timer change — live, in
Debian's headless Chromium; and a delete for me in the window reaches device 1."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from tests.app.app_process import AppProcess
from tests.support.browser import chromium, needs_chromium
from tests.support.live_server import LiveServer
from tests.support.people import link

WAIT_MS = 30_000
PASSPHRASE = "laptop passphrase"

pytestmark = needs_chromium


@pytest.fixture
async def accounts(app_server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    """Alice's first device and Bob, both SDK clients; Alice's laptop is linked into
    tmp_path/laptop for the app to open."""
    tag = secrets.token_hex(3)
    alice = await Client.create_account(tmp_path / "a1", app_server.url, "chat", f"alice-{tag}")
    bob = await Client.create_account(tmp_path / "b", app_server.url, "photos", f"bob-{tag}")
    await (await link(alice, tmp_path / "laptop", app_server.url, passphrase=PASSPHRASE)).close()
    try:
        yield alice, bob
    finally:
        await alice.close()
        await bob.close()


async def test_the_other_devices_window_follows(
    accounts: tuple[Client, Client], app_server: LiveServer, tmp_path: Path
) -> None:
    alice, bob = accounts
    laptop = AppProcess(tmp_path / "laptop", app_server.url, tmp_path / "laptop.log")
    laptop.start()
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(laptop.launch_url)
            await page.wait_for_selector("#signin-form:not([hidden])")
            await page.fill("#si-pass", PASSPHRASE)
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#whoami:has-text('device 2')", timeout=WAIT_MS)

            hello = await alice.send(bob.address, "hello from the phone")
            chat = f"#conversations button:has-text('{bob.address}')"
            await page.wait_for_selector(chat, timeout=WAIT_MS)
            await page.click(chat)
            await page.wait_for_selector(".msg.out:has-text('hello from the phone')")

            typo = await alice.send(bob.address, "a typo from the phone")
            await page.wait_for_selector(
                ".msg.out:has-text('a typo from the phone')", timeout=WAIT_MS
            )
            await alice.delete_for_everyone(bob.address, typo.message_id)
            await page.wait_for_selector(
                ".msg:has-text('a typo from the phone')", state="detached", timeout=WAIT_MS
            )

            await alice.set_disappearing_timer(bob.address, 300)
            await page.wait_for_function(
                "() => document.getElementById('timer').value === '300'", timeout=WAIT_MS
            )

            await alice.delete_for_me(bob.address, hello.message_id)
            await page.wait_for_selector(
                ".msg:has-text('hello from the phone')", state="detached", timeout=WAIT_MS
            )

            # The other way: delete for me in the laptop's window reaches the phone.
            await bob.fetch()
            answer = await bob.send(alice.address, "an answer from bob")
            await page.wait_for_selector(".msg.in:has-text('an answer from bob')", timeout=WAIT_MS)
            await alice.fetch()
            assert answer.message_id in [e.message_id for e in alice.history(bob.address)]
            page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await page.click(
                ".msg.in:has-text('an answer from bob') button:has-text('Delete for me')"
            )
            await page.wait_for_selector(
                ".msg:has-text('an answer from bob')", state="detached", timeout=WAIT_MS
            )
            for _ in range(50):
                await alice.fetch()
                if not alice.history(bob.address):
                    break
                await asyncio.sleep(0.2)
            assert alice.history(bob.address) == []
            # Bob keeps what he got: a delete for me is not sent to him, and the typo
            # was withdrawn from his devices.
            assert [e.text for e in bob.history(alice.address)] == [
                "hello from the phone",
                "an answer from bob",
            ]
            assert errors == [], errors
    finally:
        laptop.stop()
