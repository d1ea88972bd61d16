"""A file over the attachment limit is refused with a sentence that names the limit:
in the page when chosen (before any of it is read), and by the app process when a
request declares it anyway; the process keeps serving."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sottovoce.client.attachments import MAX_ATTACHMENT_BYTES
from tests.app.test_browser import WAIT_MS, Apps, _sign_up, apps  # noqa: F401

_DECLARE = """async ([size]) => {
  const answer = await fetch(`/api/uploads?name=big.bin&size=${size}`, {
    method: "POST", body: new Uint8Array(16),
  });
  return [answer.status, (await answer.json()).error];
}"""


async def test_an_oversized_file_is_refused_with_a_clear_message(
    apps: Apps,  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    app = apps.start("alice")
    page = await (await browser.new_context()).new_page()
    await _sign_up(page, app, "chat", f"alice-{secrets.token_hex(3)}")
    await page.fill("#new-peer", "someone@photos")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#view-title:has-text('someone@photos')", timeout=WAIT_MS)

    big = tmp_path / "holiday.mov"
    with big.open("wb") as sparse:  # 100 MiB and one byte, without writing them
        sparse.truncate(MAX_ATTACHMENT_BYTES + 1)
    await page.set_input_files("#file", str(big))
    await page.wait_for_selector(
        "#notice:has-text('holiday.mov is 100.0 MiB: attachments are at most 100.0 MiB.')",
        timeout=WAIT_MS,
    )
    assert await page.evaluate("document.getElementById('file').files.length") == 0

    status, error = await page.evaluate(_DECLARE, [MAX_ATTACHMENT_BYTES + 1])
    assert status == 400
    assert error == (
        f"the file is {MAX_ATTACHMENT_BYTES + 1} bytes; attachments are at most "
        f"{MAX_ATTACHMENT_BYTES} bytes (100 MiB)"
    )
    state = await page.evaluate("async () => (await (await fetch('/api/state')).json()).status")
    assert state == "open"
