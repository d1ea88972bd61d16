"""The conversation view with 10,000 messages in history, in headless Chromium.

Run ``python bench/app_history.py`` (needs Debian's chromium). It starts the real
server, creates an account whose local history holds ``MESSAGES`` messages with
one peer (written straight into its encrypted store, as 10,000 received messages
would leave it), starts ``sottovoce app`` on that profile and signs in in the
browser. One JSON line per figure:

- ``open_conversation_ms``: from another conversation, click on this one until its
  messages are drawn (the view draws the latest ``app.web.VIEW_LIMIT``), median
  of ``ROUNDS``;
- ``redraw_ms``: a new message arriving in the open conversation until it is drawn
  (the tab re-reads the view), median of ``ROUNDS``;
- ``dom_messages``: message elements in the page.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sottovoce.client import Client
from sottovoce.server.process import ServerProcess

MESSAGES = 10_000
ROUNDS = 5
PASSPHRASE = "bench passphrase"
OTHER = "someone-else@chat"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def result(metric: str, value: float, unit: str, **extra: Any) -> None:
    row = {"bench": "app_history", "metric": metric, "value": round(value, 1), "unit": unit}
    print(json.dumps({**row, "impl": "sottovoce", "messages": MESSAGES, **extra}), flush=True)


async def main() -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = ServerProcess(root / "server")
        server.directory.mkdir()
        server.start()
        app = None
        try:
            tag = secrets.token_hex(3)
            alice = await Client.create_account(
                root / "alice", server.url, "chat", f"alice-{tag}", passphrase=PASSPHRASE
            )
            bob = await Client.create_account(root / "bob", server.url, "photos", f"bob-{tag}")
            await alice.send(bob.address, "first")  # a real conversation, both ways
            await bob.fetch()
            await bob.send(alice.address, "hello")
            await alice.fetch()
            history = alice._history  # the bench fills history as fetches would
            with alice._store.transaction():
                now = int(time.time() * 1000)
                for i in range(MESSAGES):
                    history.record(bob.address, f"m{i}", "in", f"message {i} " * 4, now - i)
                # A second, short conversation to switch away to between rounds.
                history.record(OTHER, "other-1", "in", "elsewhere", now - MESSAGES)
            await alice.close()

            command = str(Path(sys.executable).with_name("sottovoce"))
            app = subprocess.Popen(
                [command, "--profile", str(root / "alice"), "app", "--no-browser"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            assert app.stdout is not None
            url = re.sub(r"^open ", "", app.stdout.readline().strip())
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=ARGS
                )
                page = await browser.new_page()
                await page.goto(url)
                await page.fill("#si-pass", PASSPHRASE)
                await page.keyboard.press("Enter")
                row = f"#conversations button:has-text('{bob.address}')"
                await page.wait_for_selector(row, timeout=60_000)
                opens, redraws = [], []
                for i in range(ROUNDS):
                    await page.click(f"#conversations button:has-text('{OTHER}')")
                    await page.wait_for_selector(".msg[data-id='other-1']")
                    start = time.perf_counter()
                    await page.click(row)
                    await page.wait_for_selector(
                        f".msg[data-id='m{MESSAGES - 1}']", state="attached"
                    )
                    opens.append((time.perf_counter() - start) * 1000)
                    text = f"live {i}"
                    start = time.perf_counter()
                    await bob.send(f"alice-{tag}@chat", text)
                    await page.wait_for_selector(f".msg:has-text('{text}')", timeout=60_000)
                    redraws.append((time.perf_counter() - start) * 1000)
                result("open_conversation_ms", statistics.median(opens), "ms")
                result("redraw_ms", statistics.median(redraws), "ms", includes="send and relay")
                result("dom_messages", await page.locator(".msg").count(), "elements")
                await browser.close()
            await bob.close()
        finally:
            if app is not None:
                app.terminate()
                app.wait(10)
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
