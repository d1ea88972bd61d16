"""Three people in a group, each in their own ``sottovoce app`` and Chromium window:
an image with its thumbnail, read receipts per member, typing, and a disappearing
timer one member sets that removes a message from every member's device and page.

Debian's headless Chromium (``executable_path``), the real server process, one app
process per person, as tests/app does; screenshots go to test-artifacts/app/.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from playwright.async_api import expect

from tests.app.test_browser import (  # noqa: F401 (fixtures, and the skip without chromium)
    WAIT_MS,
    Apps,
    _png,
    _shot,
    _sign_up,
    apps,
    pytestmark,
)

PASSPHRASE = "correct horse battery staple"
TIMER_S = 300
# The three apps restart this long before the message's end (together, each page
# signed in again within it), so each page shows it first and then sees it go live
# (the process sweeps every second).
SHOWN_FOR_S = 30


async def test_three_people_share_an_image_read_receipts_and_a_timer(
    apps: Apps,  # noqa: F811
    browser: object,
) -> None:
    suffix = secrets.token_hex(3)
    people = {}
    errors: list[str] = []
    for name, app_name in (("alice", "chat"), ("bob", "photos"), ("carol", "chat")):
        process = apps.start(name)
        window = await browser.new_context()  # type: ignore[attr-defined]
        page = await window.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await _sign_up(page, process, app_name, f"{name}-{suffix}")
        people[name] = [process, page, f"{name}-{suffix}@{app_name}"]
    _, alice, alice_address = people["alice"]
    _, bob, bob_address = people["bob"]
    _, carol, carol_address = people["carol"]

    await alice.fill("#group-name", "hike")
    await alice.keyboard.press("Enter")
    await alice.wait_for_selector("#view-title:has-text('#hike')")
    for address in (bob_address, carol_address):
        await alice.fill("#member-address", address)
        await alice.keyboard.press("Enter")
        await alice.wait_for_selector(f"#members li:has-text('{address}')", timeout=WAIT_MS)
    await alice.fill("#compose", "welcome to the hike group")
    await alice.keyboard.press("Enter")
    for page in (bob, carol):
        await page.click("#requests button:has-text('#hike')", timeout=WAIT_MS)
        await page.wait_for_selector(f"#request-bar:has-text('{alice_address} added you')")
        await page.click("#request-bar button[data-request='accept']")
        await page.wait_for_selector(".msg.in:has-text('welcome to the hike group')")
    assert errors == [], errors

    # An image: encrypted in Alice's process, a thumbnail inside the MLS message.
    picture = apps.root / "summit.png"
    picture.write_bytes(_png(320, 200))
    await alice.set_input_files("#file", str(picture))
    await alice.fill("#compose", "the view from the top")
    await alice.click("#composer button[type='submit']")
    sent = ".msg.out:has-text('the view from the top')"
    await alice.wait_for_selector(f"{sent} .state:not([data-state='sending'])", timeout=WAIT_MS)
    image = ".msg.in:has-text('the view from the top')"
    for page in (bob, carol):
        thumb = await page.wait_for_selector(f"{image} img.preview", timeout=WAIT_MS)
        assert (await thumb.get_attribute("src") or "").startswith("data:image/jpeg;base64,")
    await _shot(carol, "20-group-thumbnail")
    await bob.click(f"{image} button:has-text('Show summit.png')")
    full = await bob.wait_for_selector(
        f"{image} img.preview[src^='/api/attachments/']", timeout=WAIT_MS
    )
    await bob.wait_for_function("(img) => img.complete && img.naturalWidth === 320", arg=full)
    await _shot(bob, "21-group-image")

    # Both had the group open, so both read it: Alice sees who read it.
    await alice.wait_for_selector(
        f"{sent} .receipts[data-read~='{bob_address}'][data-read~='{carol_address}']",
        timeout=WAIT_MS,
    )
    await alice.wait_for_selector(f"{sent} .state[data-state='read']")
    assert "Read by" in (await alice.text_content(f"{sent} .receipts") or "")
    await _shot(alice, "22-group-read-by")

    # Typing, and a reply quoting the image's caption.
    await bob.focus("#compose")
    await bob.keyboard.type("wow")
    await alice.wait_for_selector(f"#typing:has-text('{bob_address} is typing')", timeout=WAIT_MS)
    await bob.fill("#compose", "")
    await carol.click(f"{image} button:has-text('Reply')")
    await carol.keyboard.type("worth the climb")
    await carol.keyboard.press("Enter")
    await alice.wait_for_selector(
        ".msg.in:has-text('worth the climb') .quote:has-text('the view from the top')",
        timeout=WAIT_MS,
    )

    # Carol turns on disappearing messages for the whole group.
    await carol.select_option("#timer", str(TIMER_S))
    for page in (alice, bob):
        await expect(page.locator("#timer")).to_have_value(str(TIMER_S), timeout=WAIT_MS)
    await alice.fill("#compose", "this one will vanish")
    await alice.keyboard.press("Enter")
    sent_at = time.time()
    vanishing = ".msg:has-text('this one will vanish')"
    for page in (alice, bob, carol):
        await page.wait_for_selector(f"{vanishing} .expires", timeout=WAIT_MS)
    await _shot(bob, "23-group-disappearing")

    # Each person's process moves on to just before the message's end, all three to the
    # same moment: each page shows it, then drops it live when its process removed it
    # from the store.
    for process, _, _ in people.values():
        process.stop()
    ends_at = time.time() + SHOWN_FOR_S
    ahead = max(int(sent_at + TIMER_S - ends_at), 1)
    restarted = await asyncio.gather(
        *(asyncio.to_thread(apps.start, name, clock_ahead_s=ahead) for name in people)
    )
    for person, later in zip(people.values(), restarted, strict=True):
        person[0] = later
        page = person[1]
        await later.open_signed_in(page, PASSPHRASE)
        await page.click("#conversations button:has-text('#hike')", timeout=WAIT_MS)
        await page.wait_for_selector(".msg:has-text('worth the climb')", timeout=WAIT_MS)
        await page.wait_for_selector(vanishing)  # still there: its time has not come
    for _, page, _ in people.values():
        await page.wait_for_selector(vanishing, state="detached", timeout=60_000)
        assert await page.locator(".msg:has-text('the view from the top'):has(.file)").count() == 1
    await _shot(carol, "24-group-disappeared")
    assert errors == [], errors
