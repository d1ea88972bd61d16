"""A window whose live feed overflowed catches up, in Debian's headless Chromium.

Two windows of one app process show Alice's chat with Bob. One locks the app
while Bob sends more messages than a window's feed holds (``--feed-queue``: this
test's app holds fewer than the default ``FEED_QUEUE``, so that Bob's burst, paced
below the server's sealed-send limit, takes seconds rather than half a minute);
unlocking fetches them all at once, one event each, which overflows the other
window's feed. That window's socket is closed with ``FELL_BEHIND``; it reconnects,
re-reads what it shows, and keeps following: Bob's next message appears live.
(Before, the process dropped the overflowed subscription and left the socket
open: the window got no event of any kind again until it was reloaded.)"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sottovoce.app.session import FEED_QUEUE, FELL_BEHIND
from sottovoce.client import Client
from sottovoce.server.limits import SEALED_SENDS_PER_SECOND_PER_RECIPIENT
from tests.app.app_process import AppProcess
from tests.support.browser import chromium, needs_chromium
from tests.support.live_server import LiveServer

pytestmark = needs_chromium

WAIT_MS = 60_000
PASSPHRASE = "laptop passphrase"
QUEUE = 32
assert QUEUE < FEED_QUEUE
BURST = QUEUE + 44
# Within what the server lets one sender send one recipient (sealed sender).
SEND_PACE_S = 1.1 / SEALED_SENDS_PER_SECOND_PER_RECIPIENT

# For the test to read: every close code a window's sockets saw, and how many of
# its API requests are under way (``quiet(ms)``: none for that long).
INSTRUMENT = """
window.feedCloses = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("close", (event) => window.feedCloses.push(event.code));
  }
};
let inflight = 0;
const nativeFetch = window.fetch;
window.fetch = (...args) => {
  inflight += 1;
  return nativeFetch(...args).finally(() => { inflight -= 1; });
};
window.quiet = (ms) => new Promise((resolve) => {
  let since = Date.now();
  const tick = () => {
    if (inflight) since = Date.now();
    if (Date.now() - since >= ms) resolve(true); else setTimeout(tick, 50);
  };
  tick();
});
"""
QUIET_MS = 1500


async def test_a_window_that_fell_behind_reconnects_and_catches_up(
    app_server: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    alice = await Client.create_account(
        tmp_path / "alice", app_server.url, "chat", f"alice-{tag}", passphrase=PASSPHRASE
    )
    bob = await Client.create_account(tmp_path / "bob", app_server.url, "photos", f"bob-{tag}")
    try:
        await alice.send(bob.address, "hi bob")  # a contact, not a message request
        await bob.fetch()
        await bob.send(alice.address, "hi alice")
    finally:
        await alice.close()
    app = AppProcess(
        tmp_path / "alice",
        app_server.url,
        tmp_path / "app.log",
        app_args=("--feed-queue", str(QUEUE)),
    )
    app.start()
    try:
        async with chromium() as browser:
            context = await browser.new_context()
            await context.add_init_script(INSTRUMENT)
            first = await context.new_page()
            await first.goto(app.launch_url)
            await first.wait_for_selector("#signin-form:not([hidden])")
            await first.fill("#si-pass", PASSPHRASE)
            await first.keyboard.press("Enter")
            chat = f"#conversations button:has-text('{bob.address}')"
            await first.wait_for_selector(chat, timeout=WAIT_MS)

            second = await context.new_page()  # the session cookie is the context's
            await second.goto(app.base)
            await second.wait_for_selector(chat, timeout=WAIT_MS)
            await second.click(chat)
            await second.wait_for_selector(".msg.in:has-text('hi alice')", timeout=WAIT_MS)
            await second.wait_for_function("() => window.feedCloses !== undefined")

            await first.click("#signout")
            await first.wait_for_selector("#signin-form:not([hidden])", timeout=WAIT_MS)
            for n in range(BURST):
                await bob.send(alice.address, f"burst {n}")
                await asyncio.sleep(SEND_PACE_S)
            await first.fill("#si-pass", PASSPHRASE)
            await first.keyboard.press("Enter")

            await second.wait_for_selector(
                f".msg.in:has-text('burst {BURST - 1}')", timeout=WAIT_MS
            )
            # Everything the window re-reads after the burst is done: a re-read still
            # under way must not be what shows the next message.
            await second.evaluate(f"window.quiet({QUIET_MS})")
            await bob.send(alice.address, "after the burst")
            await second.wait_for_selector(".msg.in:has-text('after the burst')", timeout=WAIT_MS)
            # The list, re-read too, has the last message.
            await second.wait_for_selector(
                "#conversations button:has-text('after the burst')", timeout=WAIT_MS
            )
            # And the window was told why its socket closed.
            assert FELL_BEHIND in await second.evaluate("window.feedCloses")
    finally:
        app.stop()
        await bob.close()
