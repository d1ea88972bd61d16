"""The upload and download progress bars move, and end full, in Debian's headless
Chromium: Alice sends a 12 MiB file, Bob downloads it; each page records every value
its bar took (a MutationObserver on the bars' ``value`` and ``max``)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from tests.app.test_browser import WAIT_MS, Apps, _sign_up, apps  # noqa: F401

SIZE = 12 * 1024 * 1024

# Every (value, max) a progress bar under ``root`` showed, in order.
_RECORD = """(root) => {
  window.bars = [];
  const note = (bar) => window.bars.push([Number(bar.value), Number(bar.max)]);
  new MutationObserver((changes) => {
    for (const c of changes) if (c.target.tagName === "PROGRESS") note(c.target);
  }).observe(document.querySelector(root), {
    attributes: true, attributeFilter: ["value", "max"], subtree: true,
  });
}"""


def _moved_and_filled(bars: list[list[float]]) -> bool:
    values = [value for value, _ in bars]
    return bool(bars) and bars[-1][0] == bars[-1][1] > 0 and any(v > 0 for v in values)


async def test_upload_and_download_progress_bars(
    apps: Apps,  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    tag = secrets.token_hex(3)
    alice_app, bob_app = apps.start("alice"), apps.start("bob")
    alice = await (await browser.new_context()).new_page()
    bob = await (await browser.new_context()).new_page()
    await _sign_up(alice, alice_app, "chat", f"alice-{tag}")
    await _sign_up(bob, bob_app, "photos", f"bob-{tag}")
    await alice.fill("#new-peer", f"bob-{tag}@photos")
    await alice.keyboard.press("Enter")
    await alice.fill("#compose", "hello")
    await alice.keyboard.press("Enter")
    await bob.click(f"#requests button:has-text('alice-{tag}@chat')", timeout=WAIT_MS)
    await bob.click("#request-bar button[data-request='accept']")
    await bob.wait_for_selector("#request-bar", state="hidden", timeout=WAIT_MS)

    data = tmp_path / "archive.bin"
    data.write_bytes(os.urandom(SIZE))
    await alice.evaluate(_RECORD, "#composer")
    await alice.set_input_files("#file", str(data))
    await alice.fill("#compose", "the archive")
    await alice.keyboard.press("Enter")
    sent = ".msg.out:has-text('the archive') .state:not([data-state='sending'])"
    await alice.wait_for_selector(sent, timeout=120_000)
    state = await alice.get_attribute(sent, "data-state")
    assert state in ("sent", "delivered", "read"), (state, await alice.text_content("#notice"))
    uploaded = await alice.evaluate("window.bars")
    assert _moved_and_filled(uploaded), uploaded
    assert uploaded[-1][1] == SIZE

    await bob.evaluate(_RECORD, "#messages")
    await bob.click("button:has-text('Download archive.bin')", timeout=WAIT_MS)
    await bob.wait_for_selector("a.download:has-text('archive.bin')", timeout=120_000)
    downloaded = await bob.evaluate("window.bars")
    assert _moved_and_filled(downloaded), downloaded
    assert len({value for value, _ in downloaded}) >= 2  # it moved on the way
