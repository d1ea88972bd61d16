"""End to end in Debian's headless Chromium: two people on two apps use the app.

Each person runs their own ``sottovoce app`` process (their keys stay in it) in
front of one real relay server; each browser context is one person's window.
Screenshots of the main screens go to test-artifacts/app/.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.app_process import AppProcess
from tests.support.browser import needs_chromium
from tests.support.live_server import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "app"
WAIT_MS = 30_000

pytestmark = needs_chromium


def _png(width: int, height: int) -> bytes:
    """A real PNG (a colour gradient) without an image library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class Apps:
    """Each person's own app process, started on demand, all stopped at the end."""

    def __init__(self, server: LiveServer, root: Path) -> None:
        self.server = server
        self.root = root
        self.started: list[AppProcess] = []

    def start(self, name: str, *, clock_ahead_s: int = 0) -> AppProcess:
        process = AppProcess(
            self.root / name,
            self.server.url,
            self.root / f"{name}.log",
            clock_ahead_s=clock_ahead_s,
        )
        process.start()
        self.started.append(process)
        return process


@pytest.fixture
def apps(app_server: LiveServer, tmp_path: Path) -> Iterator[Apps]:
    made = Apps(app_server, tmp_path)
    try:
        yield made
    finally:
        for process in made.started:
            process.stop()


async def _sign_up(page: object, app: AppProcess, app_name: str, handle: str) -> None:
    await page.goto(app.launch_url)  # type: ignore[attr-defined]
    await page.fill("#su-app", app_name)  # type: ignore[attr-defined]
    await page.fill("#su-handle", handle)  # type: ignore[attr-defined]
    await page.fill("#su-pass", "correct horse battery staple")  # type: ignore[attr-defined]
    await page.keyboard.press("Enter")  # type: ignore[attr-defined]
    await page.wait_for_selector(  # type: ignore[attr-defined]
        f"#whoami:has-text('{handle}@{app_name}')", timeout=WAIT_MS
    )


async def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


async def test_two_people_sign_up_and_talk_live(apps: Apps, browser: object) -> None:
    alice_app, bob_app = apps.start("alice"), apps.start("bob")
    suffix = secrets.token_hex(3)
    alice_handle, bob_handle = f"alice-{suffix}", f"bob-{suffix}"
    alice_window = await browser.new_context()  # type: ignore[attr-defined]
    bob_window = await browser.new_context()  # type: ignore[attr-defined]
    alice = await alice_window.new_page()
    bob = await bob_window.new_page()
    errors: list[str] = []
    for page in (alice, bob):
        page.on("pageerror", lambda exc: errors.append(str(exc)))

    await alice.goto(alice_app.launch_url)
    await alice.wait_for_selector("#signup-form:not([hidden])")
    assert await alice.input_value("#su-server") == alice_app.server_url
    assert "#k=" not in alice.url  # the secret left the address bar
    await _shot(alice, "01-sign-up")
    await _sign_up(alice, alice_app, "chat", alice_handle)
    await _sign_up(bob, bob_app, "photos", bob_handle)
    bob_address = f"{bob_handle}@photos"
    alice_address = f"{alice_handle}@chat"

    # Alice writes first, using only the keyboard.
    await alice.focus("#new-peer")
    await alice.keyboard.type(bob_address)
    await alice.keyboard.press("Enter")
    await alice.wait_for_selector(f"#view-title:has-text('{bob_address}')")
    await alice.keyboard.type("hello from the chat app")
    await alice.keyboard.press("Enter")
    try:
        await alice.wait_for_selector(".msg.out .state[data-state='sent']", timeout=WAIT_MS)
    finally:
        assert errors == [], errors

    # A stranger's first message lands in Bob's message requests, live.
    await bob.wait_for_selector(f"#requests button:has-text('{alice_address}')", timeout=WAIT_MS)
    await _shot(bob, "02-message-request")
    await bob.click(f"#requests button:has-text('{alice_address}')")
    await bob.wait_for_selector(".msg.in:has-text('hello from the chat app')")
    await bob.click("#request-bar button[data-request='accept']")
    await bob.wait_for_selector("#request-bar", state="hidden")
    await bob.fill("#compose", "hi alice, live from photos")
    await bob.keyboard.press("Enter")

    # Alice's open conversation updates by itself (WebSocket from her process).
    await alice.wait_for_selector(".msg.in:has-text('hi alice, live from photos')", timeout=WAIT_MS)
    await _shot(alice, "03-conversation")

    # Bob reads on; Alice's next messages show as unread in Bob's list until opened.
    await bob.fill("#new-peer", "someone-else@chat")
    await bob.keyboard.press("Enter")
    await bob.wait_for_selector("#view-title:has-text('someone-else@chat')")
    await alice.fill("#compose", "two")
    await alice.keyboard.press("Enter")
    await alice.fill("#compose", "three")
    await alice.keyboard.press("Enter")
    await bob.wait_for_selector(
        f"#conversations button:has-text('{alice_address}') .badge:has-text('2')", timeout=WAIT_MS
    )
    await _shot(bob, "04-conversation-list")
    # Bob's process stored them: Alice sees them delivered (an encrypted receipt).
    three = ".msg.out:has-text('three') .state"
    await alice.wait_for_selector(f"{three}[data-state='delivered']", timeout=WAIT_MS)

    # Local search over Bob's history.
    await bob.fill("#search-input", "LIVE from")
    await bob.keyboard.press("Enter")
    await bob.wait_for_selector("#hits button:has-text('hi alice, live from photos')")
    await _shot(bob, "05-search")

    # Readable at 200% zoom: nothing overflows sideways.
    await bob.set_viewport_size({"width": 640, "height": 900})  # 1280 px wide at 200%
    width = await bob.evaluate("document.documentElement.scrollWidth")
    assert width <= 640
    await _shot(bob, "06-zoom-200")
    await bob.set_viewport_size({"width": 1280, "height": 900})

    # An image: encrypted in Alice's process, a thumbnail for Bob, then the full image.
    picture = apps.root / "sunset.png"
    picture.write_bytes(_png(320, 200))
    await bob.click(f"#conversations button:has-text('{alice_address}')")
    await alice.wait_for_selector(f"{three}[data-state='read']", timeout=WAIT_MS)
    await _shot(alice, "07a-read")

    # A reply quotes its message, on both sides.
    await bob.click(".msg.in:has-text('two') button:has-text('Reply')")
    await bob.keyboard.type("an answer to two")
    await bob.keyboard.press("Enter")
    await alice.wait_for_selector(
        ".msg.in:has-text('an answer to two') .quote:has-text('two')", timeout=WAIT_MS
    )

    # Typing indicators, live.
    await alice.focus("#compose")
    await alice.keyboard.type("thinking")
    await bob.wait_for_selector(f"#typing:has-text('{alice_address} is typing')", timeout=WAIT_MS)
    await alice.fill("#compose", "")
    await alice.set_input_files("#file", str(picture))
    await alice.fill("#compose", "look at this")
    await alice.click("#composer button[type='submit']")
    await alice.wait_for_selector(
        ".msg.out:has-text('look at this') .state:not([data-state='sending'])", timeout=WAIT_MS
    )
    thumb = await bob.wait_for_selector(
        ".msg.in:has-text('look at this') img.preview", timeout=WAIT_MS
    )
    assert (await thumb.get_attribute("src") or "").startswith("data:image/jpeg;base64,")
    await bob.click(".msg.in:has-text('look at this') button:has-text('Show sunset.png')")
    full = await bob.wait_for_selector(
        ".msg.in:has-text('look at this') img.preview[src^='/api/attachments/']", timeout=WAIT_MS
    )
    await bob.wait_for_function("(img) => img.complete && img.naturalWidth === 320", arg=full)
    await _shot(bob, "07-image")

    # Safety numbers: the same 60 digits on both sides, then both mark verified.
    numbers = []
    for page in (alice, bob):
        await page.click("#verify-button")
        await page.wait_for_selector("#verify-dialog[open] #safety-qr[src^='data:image/png']")
        numbers.append(await page.text_content("#safety-digits"))
    assert numbers[0] == numbers[1] and len((numbers[0] or "").replace(" ", "")) == 60
    await _shot(bob, "08-safety-number")
    for page in (alice, bob):
        await page.click("#mark-verified")
        await page.wait_for_selector("#verified-state.verified")

    # Disappearing messages: Alice turns on 5 minutes; the timer travels to Bob.
    await alice.select_option("#timer", "300")
    await alice.fill("#compose", "this one will vanish")
    await alice.keyboard.press("Enter")
    vanishing = ".msg.in:has-text('this one will vanish')"
    await bob.wait_for_selector(f"{vanishing} .expires", timeout=WAIT_MS)
    assert await bob.input_value("#timer") == "300"
    await _shot(bob, "09-disappearing")
    # Delete for everyone: gone from Bob's window too.
    await alice.fill("#compose", "a typo here")
    await alice.keyboard.press("Enter")
    typo = ".msg:has-text('a typo here')"
    await bob.wait_for_selector(typo, timeout=WAIT_MS)
    alice.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await alice.click(f"{typo} button:has-text('Delete for everyone')")
    await alice.wait_for_selector(typo, state="detached", timeout=WAIT_MS)
    await bob.wait_for_selector(typo, state="detached", timeout=WAIT_MS)

    # Five minutes later on Bob's machine (his process restarted 310 s ahead): gone
    # from his store, so from the page.
    bob_app.stop()
    later = apps.start("bob", clock_ahead_s=310)
    await later.open_signed_in(bob, "correct horse battery staple")
    await bob.click(f"#conversations button:has-text('{alice_address}')")
    await bob.wait_for_selector(".msg.in:has-text('look at this')")
    assert await bob.locator(vanishing).count() == 0


async def test_a_group_with_a_third_person_then_backup_and_restore(
    apps: Apps, browser: object, tmp_path: Path
) -> None:
    suffix = secrets.token_hex(3)
    people = {}
    for name, app_name in (("alice", "chat"), ("bob", "photos"), ("carol", "chat")):
        process = apps.start(name)
        window = await browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
        page = await window.new_page()
        await _sign_up(page, process, app_name, f"{name}-{suffix}")
        people[name] = (process, page, f"{name}-{suffix}@{app_name}")
    _, alice, alice_address = people["alice"]
    _, bob, bob_address = people["bob"]
    _, carol, carol_address = people["carol"]

    await alice.fill("#group-name", "trip")
    await alice.keyboard.press("Enter")
    await alice.wait_for_selector("#view-title:has-text('#trip')")
    for address in (bob_address, carol_address):
        await alice.fill("#member-address", address)
        await alice.keyboard.press("Enter")
        await alice.wait_for_selector(f"#members li:has-text('{address}')", timeout=WAIT_MS)
    assert "Not verified" in (
        await alice.text_content(f"#members li:has-text('{bob_address}')") or ""
    )
    await alice.fill("#compose", "group hello from chat")
    await alice.keyboard.press("Enter")
    # A stranger's group invite is a message request: unseen until accepted.
    for page in (bob, carol):
        await page.wait_for_selector("#requests button:has-text('#trip')", timeout=WAIT_MS)
        await page.click("#requests button:has-text('#trip')")
        await page.wait_for_selector(f"#request-bar:has-text('{alice_address} added you')")
        assert await page.locator(".msg").count() == 0
        await page.click("#request-bar button[data-request='accept']")
        await page.wait_for_selector(".msg.in:has-text('group hello from chat')", timeout=WAIT_MS)
    await bob.fill("#compose", "bob here, in the group")
    await bob.keyboard.press("Enter")
    for page in (alice, carol):
        await page.wait_for_selector(".msg.in:has-text('bob here, in the group')", timeout=WAIT_MS)
    await _shot(carol, "10-group")

    # Alice backs up through the app, her old machine goes, she restores on a new one.
    await alice.click("#backup-panel summary")
    await alice.fill("#bk-pass", "my recovery words")
    await alice.fill("#bk-pass2", "my recovery words")
    async with alice.expect_download(timeout=120_000) as download_info:
        await alice.click("#backup-form button[type='submit']")
    backup = tmp_path / "alice.svbackup"
    await (await download_info.value).save_as(backup)
    await _shot(alice, "11-backup")
    people["alice"][0].stop()

    new_machine = apps.start("alice-new-machine")
    await alice.goto(new_machine.launch_url)
    await alice.wait_for_selector("#restore-form:not([hidden])")
    await alice.set_input_files("#rs-file", str(backup))
    await alice.fill("#rs-pass", "not my recovery words")
    await alice.click("#restore-form button[type='submit']")
    await alice.wait_for_selector("#notice:has-text('wrong recovery passphrase')", timeout=120_000)
    assert await alice.is_visible("#signup-form")  # nothing changed
    await alice.fill("#rs-pass", "my recovery words")
    await alice.click("#restore-form button[type='submit']")
    await alice.wait_for_selector("#signin-form:not([hidden])", timeout=120_000)
    await _shot(alice, "12-restored-sign-in")
    await alice.fill("#si-pass", "correct horse battery staple")
    await alice.keyboard.press("Enter")
    await alice.wait_for_selector(f"#whoami:has-text('{alice_address}')", timeout=WAIT_MS)
    await alice.click("#conversations button:has-text('#trip')")
    await alice.wait_for_selector(".msg.out:has-text('group hello from chat')")
    await alice.wait_for_selector(".msg.in:has-text('bob here, in the group')")
