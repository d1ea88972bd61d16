"""A web page on another origin cannot drive the person's app, in a real browser.

The hardest case for the guard: the person is signed in to their app in one tab
of Debian's headless Chromium, and a page from another port on 127.0.0.1 — the
same *site*, so the browser does attach the ``SameSite=Strict`` session cookie —
opens in another tab of the same browser and tries to read the state, lock the
profile, send a message with a no-CORS request, submit a form, and open the live
WebSocket. Each is refused (``guard``: Origin and ``Sec-Fetch-Site``), and the
app's own tab, which then does the same things, succeeds.
"""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from tests.app.test_browser import WAIT_MS, Apps, _sign_up, apps  # noqa: F401
from tests.support.live_server import LiveServer


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>someone else's page</title><p>hello</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def foreign_site() -> Iterator[str]:
    """Another web server on 127.0.0.1: another origin, the same site."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# What the other page tries, each with the person's cookie attached by the browser.
_ATTEMPTS = """async ([app, port, peer]) => {
  const tried = {};
  try {
    const answer = await fetch(app + "api/state", { credentials: "include" });
    tried.read = `read ${answer.status}: ${await answer.text()}`;
  } catch (e) { tried.read = "blocked"; }
  const blind = (path, body) => fetch(app + path, {
    method: "POST", mode: "no-cors", credentials: "include",
    headers: { "Content-Type": "text/plain" }, body,
  }).then(() => "answered", () => "failed");
  tried.send = await blind(`api/conversations/${encodeURIComponent(peer)}/messages`,
                           JSON.stringify({ text: "sent by someone else's page" }));
  tried.lock = await blind("api/signout", "{}");
  tried.socket = await new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    socket.onopen = () => { socket.close(); resolve("open"); };
    socket.onerror = () => resolve("refused");
  });
  return tried;
}"""


async def _own_state(page: Any) -> str:
    answer = await page.evaluate("async () => (await (await fetch('/api/state')).json()).status")
    return str(answer)


async def test_a_page_on_another_origin_is_refused_where_the_app_itself_is_not(
    apps: Apps,  # noqa: F811
    browser: Any,
    app_server: LiveServer,
    foreign_site: str,
    tmp_path: Path,
) -> None:
    tag = secrets.token_hex(3)
    bob = await Client.create_account(tmp_path / "bob", app_server.url, "photos", f"bob-{tag}")
    try:
        alice_app = apps.start("alice")
        window = await browser.new_context()
        own = await window.new_page()
        await _sign_up(own, alice_app, "chat", f"alice-{tag}")

        other = await window.new_page()  # the same browser, so the same cookie jar
        await other.goto(foreign_site)
        tried = await other.evaluate(_ATTEMPTS, [alice_app.base, alice_app.port, bob.address])
        assert tried["read"] == "blocked"  # no CORS: the answer is not even readable
        assert tried["socket"] == "refused"
        # A form posted across origins navigates to the app, which refuses it.
        await other.set_content(
            f'<form method="post" action="{alice_app.base}api/signout"><button>go</button></form>'
        )
        async with other.expect_navigation():
            await other.click("button")
        assert "refused" in (await other.text_content("body") or "")

        # Nothing happened: still signed in, no message went to Bob.
        assert await _own_state(own) == "open"
        assert await bob.fetch() == []
        assert tried["send"] == "answered" and tried["lock"] == "answered"

        # The app's own tab does the same and succeeds: the refusals were the guard's.
        await own.fill("#new-peer", bob.address)
        await own.keyboard.press("Enter")
        await own.fill("#compose", "sent by the app itself")
        await own.keyboard.press("Enter")
        await own.wait_for_selector(".msg.out .state[data-state='sent']", timeout=WAIT_MS)
        assert [m.text for m in await bob.fetch()] == ["sent by the app itself"]
        await own.click("#signout")
        await own.wait_for_selector("#signin-form:not([hidden])")
        assert await _own_state(own) == "locked"
    finally:
        await bob.close()
