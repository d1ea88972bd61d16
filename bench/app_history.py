"""The conversation view with 10,000 messages in history, in headless Chromium.

Run ``python bench/app_history.py`` (needs Debian's chromium). It starts the real
server, creates an account whose local history holds ``MESSAGES`` messages with
one peer (written straight into its encrypted store, as 10,000 received messages
would leave it), starts ``sottovoce app`` on that profile and signs in in the
browser. One JSON line per figure:

- ``open_conversation_ms``: from another conversation, click on this one until its
  latest message is drawn (the view reads the latest page and draws only the rows
  in its window), median of ``ROUNDS``;
- ``scroll_to_first_ms``: Home on the focused list until the very first message is
  visible (it reads every older page), median of ``ROUNDS``;
- ``scroll_step_ms``: one scroll step (``STEP_PX`` up) until the frame after the
  view redrew, median and p95 of ``STEPS`` steps from the bottom (a 60 Hz frame is
  16.7 ms, so two frames are the floor); ``max_frame_gap_ms``: the longest gap
  between animation frames over those steps;
- ``redraw_ms``: a new message arriving in the open conversation until it is drawn
  (the tab re-reads the latest page), median of ``ROUNDS``;
- ``dom_messages_max``: the most message elements in the page at any point measured.
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
from sottovoce.demo.chromium import CHROMIUM, CHROMIUM_ARGS
from sottovoce.server.process import ServerProcess

MESSAGES = 10_000
ROUNDS = 5
STEPS = 60
STEP_PX = 600
# One scroll step in the page: the time until the frame after the view redrew, and
# the longest gap between animation frames meanwhile.
SCROLL_STEP_JS = """async (px) => {
  const list = document.getElementById("messages");
  const frames = [];
  const start = performance.now();
  list.scrollTop -= px;
  await new Promise((done) => {
    const tick = (t) => {
      frames.push(t);
      frames.length < 3 ? requestAnimationFrame(tick) : done();
    };
    requestAnimationFrame(tick);
  });
  const gaps = frames.slice(1).map((t, i) => t - frames[i]);
  return { ms: performance.now() - start, gap: Math.max(...gaps),
           rows: list.querySelectorAll(".msg").length };
}"""
PASSPHRASE = "bench passphrase"
OTHER = "someone-else@chat"


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
                now = int(time.time() * 1000) - MESSAGES
                for i in range(MESSAGES):  # m0 is the first message, m9999 the latest
                    history.record(bob.address, f"m{i}", "in", f"message {i} " * 4, now + i)
                # A second, short conversation to switch away to between rounds.
                history.record(OTHER, "other-1", "in", "elsewhere", now - 1)
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
                    executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
                )
                page = await browser.new_page()
                await page.goto(url)
                await page.fill("#si-pass", PASSPHRASE)
                await page.keyboard.press("Enter")
                row = f"#conversations button:has-text('{bob.address}')"
                await page.wait_for_selector(row, timeout=60_000)
                opens, firsts, redraws, steps, gaps, rows = [], [], [], [], [], []
                for i in range(ROUNDS):
                    await page.click(f"#conversations button:has-text('{OTHER}')")
                    await page.wait_for_selector(".msg[data-id='other-1']")
                    start = time.perf_counter()
                    await page.click(row)
                    await page.wait_for_selector(
                        f".msg[data-id='m{MESSAGES - 1}']", state="visible"
                    )
                    opens.append((time.perf_counter() - start) * 1000)
                    rows.append(await page.locator(".msg").count())
                    if i == 0:  # scroll steps up from the latest message
                        for _ in range(STEPS):
                            step = await page.evaluate(SCROLL_STEP_JS, STEP_PX)
                            steps.append(step["ms"])
                            gaps.append(step["gap"])
                            rows.append(step["rows"])
                    await page.focus("#messages")
                    start = time.perf_counter()
                    await page.keyboard.press("Home")
                    await page.wait_for_selector(
                        ".msg[data-id='m0']", state="visible", timeout=60_000
                    )
                    firsts.append((time.perf_counter() - start) * 1000)
                    rows.append(await page.locator(".msg").count())
                    await page.keyboard.press("End")
                    text = f"live {i}"
                    start = time.perf_counter()
                    await bob.send(f"alice-{tag}@chat", text)
                    await page.wait_for_selector(f".msg:has-text('{text}')", timeout=60_000)
                    redraws.append((time.perf_counter() - start) * 1000)
                steps.sort()
                result("open_conversation_ms", statistics.median(opens), "ms")
                result("scroll_to_first_ms", statistics.median(firsts), "ms")
                result("scroll_step_ms", statistics.median(steps), "ms", step_px=STEP_PX)
                p95 = steps[int(len(steps) * 0.95) - 1]
                result("scroll_step_p95_ms", p95, "ms", step_px=STEP_PX)
                result("max_frame_gap_ms", max(gaps), "ms")
                result("redraw_ms", statistics.median(redraws), "ms", includes="send and relay")
                rows.append(await page.locator(".msg").count())
                result("dom_messages_max", max(rows), "elements")
                await browser.close()
            await bob.close()
        finally:
            if app is not None:
                app.terminate()
                app.wait(10)
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
