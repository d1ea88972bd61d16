"""A security alert in the app when key transparency shows a change to the person's
own account that they did not make.

Bob's profile (made with the SDK: a tablet linked, then removed) is opened in
``sottovoce app`` in Debian's headless Chromium, in front of the deliberately
malicious server of ``tests/ghost``. While the window is open and nothing else
happens, the server silently puts the removed tablet back into Bob's device list
and logs it. The app's process follows the log by itself (every
``--transparency-watch`` seconds: shortened here from the default
``session.TRANSPARENCY_WATCH_S``, so the test does not sit through it) and the open
window shows the red security alert, which stays until Bob dismisses it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from tests.app.app_process import AppProcess
from tests.app.test_browser import ARTIFACTS, WAIT_MS
from tests.ghost.conftest import GhostServerProcess
from tests.support.people import link, running

# How often this test's app follows the log by itself.
WATCH_S = 1.0
# The watch interval, the server's epoch and a loaded machine's slack.
ALERT_WAIT_MS = int((WATCH_S + 60) * 1000)


@pytest.fixture
def ghost_server(tmp_path: Path) -> Iterator[GhostServerProcess]:
    directory = tmp_path / "ghost-relay"
    directory.mkdir()
    yield from running(GhostServerProcess(directory))


async def test_a_device_the_owner_did_not_add_raises_an_alert_in_the_open_window(
    ghost_server: GhostServerProcess,
    browser: Any,
    tmp_path: Path,
) -> None:
    handle = f"bob-{secrets.token_hex(3)}"
    bob = await Client.create_account(tmp_path / "bob", ghost_server.url, "photos", handle)
    tablet = await link(bob, tmp_path / "tablet", ghost_server.url)
    tablet_id = tablet.device_id
    await tablet.close()
    await bob.remove_device(tablet_id)
    bob.dismiss_alerts(bob.security_alerts())
    address = bob.address
    await bob.close()

    app = AppProcess(
        tmp_path / "bob",
        ghost_server.url,
        tmp_path / "bob.log",
        app_args=("--transparency-watch", str(WATCH_S)),
    )
    app.start()
    try:
        page = await (await browser.new_context()).new_page()
        await page.goto(app.launch_url)
        await page.wait_for_selector("#signin-form:not([hidden])")
        await page.keyboard.press("Enter")  # this profile has no passphrase
        await page.wait_for_selector(f"#whoami:has-text('{address}')", timeout=WAIT_MS)
        assert await page.is_hidden("#alerts")

        ghost_server.arm("readd-device", target=address, device_id=tablet_id)
        await page.wait_for_selector(
            f"#alerts:not([hidden]) #alert-list li:has-text('{address}')", timeout=ALERT_WAIT_MS
        )
        kinds = await page.evaluate(
            "async () => (await (await fetch('/api/alerts')).json()).alerts.map((a) => a.kind)"
        )
        assert "ghost-device" in kinds
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "47-security-alert.png"), full_page=True)

        await page.click("#dismiss-alerts")
        await page.wait_for_selector("#alerts", state="hidden")
    finally:
        ghost_server.disarm()
        app.stop()
