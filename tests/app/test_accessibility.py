"""The app by keyboard alone, at 200 % zoom, fetching nothing from anywhere else.

In Debian's headless Chromium, one person's window is zoomed to 200 % (a 1280 × 900
window at device scale 2 lays out as 640 × 450 CSS pixels, exactly what Chromium's
zoom does) and every step is a key press: sign up, open a chat, send, reply, verify
the safety number, set a disappearing timer, report a message, change a privacy
setting, lock and unlock. Every control reached with Tab shows its focus; at each
main screen nothing is cut off at the sides, needs sideways scrolling or overlaps
another control; and every request either page made went to its own app process on
127.0.0.1. Screenshots go to test-artifacts/app/ (``40-`` to ``46-``).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from tests.app.app_process import AppProcess
from tests.app.test_browser import ARTIFACTS, WAIT_MS, Apps, apps  # noqa: F401

PASSPHRASE = "correct horse battery staple"
MAX_TABS = 200

# Everything wrong with the layout at the current size, as sentences: controls cut off
# at either side, the page or the message list scrolling sideways, text clipped in its
# box, and interactive controls drawn over each other (within the open dialog, if one
# is open: the page behind it is inert).
_LAYOUT_PROBLEMS = """() => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  const classes = (e) => typeof e.className === "string" && e.className
    ? "." + e.className.split(" ").join(".") : "";
  const name = (e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${classes(e)}` +
    ` "${(e.textContent || e.value || "").trim().slice(0, 30)}"`;
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    // checkVisibility: also false inside a closed <details> (content-visibility).
    return r.width > 0 && r.height > 0 && e.checkVisibility({ visibilityProperty: true });
  };
  if (document.documentElement.scrollWidth > width) {
    problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  const dialog = document.querySelector("dialog[open]");
  const root = dialog || document.body;
  const all = [...root.querySelectorAll(
    "button, input, select, textarea, summary, a[href], label, h1, h2, h3, p, li, img, progress"
  )].filter(shown);
  for (const e of all) {
    if (e.matches(".skip:not(:focus)")) continue;  // off-screen until Tab reaches it
    const r = e.getBoundingClientRect();
    if (r.left < -1 || r.right > width + 1) {
      const at = `${Math.round(r.left)}..${Math.round(r.right)}`;
      problems.push(`${name(e)} is cut off: ${at} of ${width}`);
    }
    const style = getComputedStyle(e);
    const clips = style.overflowX !== "visible" || style.textOverflow === "ellipsis";
    const field = e.matches("input, textarea, select");
    // A chat list row's one-line preview ends in an ellipsis by design.
    if (clips && !field && !e.matches(".preview") && e.scrollWidth > e.clientWidth + 1) {
      problems.push(`${name(e)} clips its text: ${e.scrollWidth} > ${e.clientWidth}`);
    }
  }
  const list = document.getElementById("messages");
  if (shown(list) && list.scrollWidth > list.clientWidth + 1) {
    problems.push(`the message list scrolls sideways: ${list.scrollWidth} > ${list.clientWidth}`);
  }
  // A row of the message list is seen only through the list's own scrolled box.
  const box = (e) => {
    const r = e.getBoundingClientRect();
    if (!list.contains(e) || list === e) return r;
    const c = list.getBoundingClientRect();
    return { left: Math.max(r.left, c.left), right: Math.min(r.right, c.right),
             top: Math.max(r.top, c.top), bottom: Math.min(r.bottom, c.bottom) };
  };
  const controls = all.filter((e) => e.matches("button, input, select, textarea, summary, a[href]"))
    .filter((e) => { const r = box(e); return r.right > r.left && r.bottom > r.top; });
  for (let i = 0; i < controls.length; i++) {
    for (let j = i + 1; j < controls.length; j++) {
      const [a, b] = [controls[i], controls[j]];
      if (a.contains(b) || b.contains(a)) continue;
      const [p, q] = [box(a), box(b)];
      const x = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const y = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (x > 1 && y > 1) problems.push(`${name(a)} overlaps ${name(b)}`);
    }
  }
  return problems;
}"""

# Where keyboard focus is, whether it is visible, and whether it matches what is sought.
_FOCUS = """([selector, text]) => {
  const e = document.activeElement;
  if (!e || e === document.body) return { at: null };
  const style = getComputedStyle(e);
  const visible = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  const row = e.closest(".msg");
  const found = e.matches(selector) && (!text || (row && row.textContent.includes(text)));
  return { at: `${e.tagName.toLowerCase()}#${e.id} ${(e.textContent || "").trim().slice(0, 30)}`,
           visible, found };
}"""


class Keyboard:
    """One person's window driven by key presses only; remembers any control that
    took focus without showing it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.invisible_focus: set[str] = set()

    async def tab_to(self, selector: str, text: str | None = None) -> None:
        """Press Tab until focus is on ``selector`` (in the message containing
        ``text``), as a person would."""
        for _ in range(MAX_TABS):
            await self.page.keyboard.press("Tab")
            focus = await self.page.evaluate(_FOCUS, [selector, text])
            if focus["at"] is None:
                continue  # past the last control: the next Tab starts again at the top
            if not focus["visible"]:
                self.invisible_focus.add(focus["at"])
            if focus["found"]:
                return
        raise AssertionError(f"Tab never reached {selector} {text or ''}")

    async def type(self, text: str) -> None:
        await self.page.keyboard.type(text)

    async def press(self, key: str) -> None:
        await self.page.keyboard.press(key)


async def _layout_is_sound(page: Any, screen: str) -> None:
    problems = await page.evaluate(_LAYOUT_PROBLEMS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{screen}.png"))
    assert problems == [], f"{screen}: {problems}"


async def _sign_up_by_keyboard(keys: Keyboard, app: AppProcess, app_name: str, handle: str) -> None:
    await keys.page.goto(app.launch_url)
    await keys.page.wait_for_selector("#signup-form:not([hidden])")
    # The server is filled in (``--server``) and focus starts in the App field.
    assert await keys.page.evaluate("document.activeElement.id") == "su-app"
    await keys.type(app_name)
    await keys.press("Tab")
    await keys.type(handle)
    await keys.press("Tab")
    await keys.type(PASSPHRASE)
    await keys.press("Enter")
    await keys.page.wait_for_selector(f"#whoami:has-text('{handle}@{app_name}')", timeout=WAIT_MS)


async def _until(page: Any, script: str, expected: object, timeout_s: float = 30.0) -> None:
    """Evaluate ``script`` in the page (the CSP forbids string eval, so no
    ``wait_for_function``) until it gives ``expected``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (got := await page.evaluate(script)) != expected:
        assert asyncio.get_running_loop().time() < deadline, got
        await asyncio.sleep(0.1)


async def _focus_on(page: Any, element_id: str) -> None:
    """Focus lands on ``element_id`` (after the step's request, if it made one)."""
    await _until(page, "() => document.activeElement.id", element_id)


def _own_requests(page: Any, app: AppProcess, seen: list[str]) -> None:
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda socket: seen.append(socket.url))


async def test_main_flows_by_keyboard_alone_at_200_percent_zoom(
    apps: Apps,  # noqa: F811
    browser: Any,
) -> None:
    alice_app, bob_app = apps.start("alice"), apps.start("bob")
    suffix = secrets.token_hex(3)
    alice_address, bob_address = f"alice-{suffix}@chat", f"bob-{suffix}@photos"
    zoomed = await browser.new_context(
        viewport={"width": 640, "height": 450}, device_scale_factor=2
    )
    alice_page = await zoomed.new_page()
    bob_page = await (await browser.new_context()).new_page()
    requests: dict[str, list[str]] = {"alice": [], "bob": []}
    errors: list[str] = []
    for page, app, name in ((alice_page, alice_app, "alice"), (bob_page, bob_app, "bob")):
        _own_requests(page, app, requests[name])
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    alice, bob = Keyboard(alice_page), Keyboard(bob_page)

    await alice_page.goto(alice_app.launch_url)
    await alice_page.wait_for_selector("#signup-form:not([hidden])")
    await _layout_is_sound(alice_page, "40-zoom-sign-up")
    await _sign_up_by_keyboard(alice, alice_app, "chat", f"alice-{suffix}")
    await _sign_up_by_keyboard(bob, bob_app, "photos", f"bob-{suffix}")

    # Alice starts a chat: focus is in "New chat with" after signing up.
    await _focus_on(alice_page, "new-peer")
    await alice.type(bob_address)
    await alice.press("Enter")
    await alice_page.wait_for_selector(f"#view-title:has-text('{bob_address}')", timeout=WAIT_MS)
    await _focus_on(alice_page, "compose")
    await alice.type("hello, by keyboard")
    await alice.press("Enter")
    await alice_page.wait_for_selector(".msg.out .state[data-state='sent']", timeout=WAIT_MS)

    # Bob opens the message request and accepts it, with Tab and Enter.
    await bob_page.wait_for_selector(
        f"#requests button:has-text('{alice_address}')", timeout=WAIT_MS
    )
    await bob.tab_to("#requests button.row")
    await bob.press("Enter")
    await bob_page.wait_for_selector(".msg.in:has-text('hello, by keyboard')", timeout=WAIT_MS)
    await bob.tab_to("#request-bar button[data-request='accept']")
    await bob.press("Enter")
    await bob_page.wait_for_selector("#request-bar", state="hidden", timeout=WAIT_MS)
    await _focus_on(bob_page, "compose")
    await bob.type("hi alice, keys only")
    await bob.press("Enter")

    # Alice replies to that message: Tab to its Reply button.
    await alice_page.wait_for_selector(".msg.in:has-text('hi alice, keys only')", timeout=WAIT_MS)
    await alice.tab_to("button[aria-label='Reply to this message']", "hi alice, keys only")
    await alice.press("Enter")
    await _focus_on(alice_page, "compose")
    await alice.type("a reply, by keyboard")
    await alice.press("Enter")
    await bob_page.wait_for_selector(
        ".msg.in:has-text('a reply, by keyboard') .quote:has-text('keys only')", timeout=WAIT_MS
    )
    await alice_page.wait_for_selector(
        ".msg.out:has-text('a reply, by keyboard') .state:not([data-state='sending'])",
        timeout=WAIT_MS,
    )
    await _layout_is_sound(alice_page, "41-zoom-conversation")

    # The safety number: Tab to the button, Enter opens the dialog with focus on
    # "They match", Enter marks verified; reopened, Escape closes it.
    await alice.tab_to("#verify-button")
    await alice.press("Enter")
    await alice_page.wait_for_selector("#verify-dialog[open] #safety-qr[src^='data:image/png']")
    await _focus_on(alice_page, "mark-verified")
    await _layout_is_sound(alice_page, "42-zoom-safety-number")
    await alice.press("Enter")
    await alice_page.wait_for_selector("#verified-state.verified", timeout=WAIT_MS)
    await alice.tab_to("#verify-button")
    await alice.press("Enter")
    await alice_page.wait_for_selector("#verify-dialog[open]")
    await alice.press("Escape")
    await alice_page.wait_for_selector("#verify-dialog:not([open])", state="attached")

    # Disappearing messages: the arrow key on the focused menu picks 5 minutes.
    await alice.tab_to("#timer")
    await alice.press("ArrowDown")
    assert await alice_page.input_value("#timer") == "300"
    await alice.tab_to("#compose")
    await alice.type("this one disappears")
    await alice.press("Enter")
    await bob_page.wait_for_selector(
        ".msg.in:has-text('this one disappears') .expires", timeout=WAIT_MS
    )
    assert await bob_page.input_value("#timer") == "300"

    # Bob reports a message: Tab to its Report button, type the reason, Enter.
    await bob.tab_to("button[aria-label^='Report this message']", "a reply, by keyboard")
    await bob.press("Enter")
    await _focus_on(bob_page, "report-reason")
    await bob.type("testing the report, by keyboard")
    await bob.press("Enter")
    await bob_page.wait_for_selector("#notice:has-text('Reported')", timeout=WAIT_MS)

    # The panels open with Enter; Space ticks a setting off and on again.
    for panel in ("#settings-panel", "#devices-panel", "#backup-panel"):
        await alice.tab_to(f"{panel} summary")
        await alice.press("Enter")
        await alice_page.wait_for_selector(f"{panel}[open]")
    await alice_page.wait_for_selector("#devices li:has-text('Device 1')", timeout=WAIT_MS)
    await _layout_is_sound(alice_page, "43-zoom-panels")
    settings = "async () => (await fetch('/api/settings')).json()"
    await alice.tab_to("#receipts")
    assert await alice_page.is_checked("#receipts")
    await alice.press("Space")
    await _until(alice_page, settings, {"receipts": False, "typing": True})
    await alice.press("Space")
    await _until(alice_page, settings, {"receipts": True, "typing": True})

    # Search by keyboard: the first hit takes focus; Enter opens it.
    await alice.tab_to("#search-input")
    await alice.type("keys only")
    await alice.press("Enter")
    await alice_page.wait_for_selector("#hits button:has-text('keys only')", timeout=WAIT_MS)
    await _layout_is_sound(alice_page, "44-zoom-search")
    await alice.press("Enter")
    await _focus_on(alice_page, "compose")

    # The message list scrolls by keyboard (Home, End) once Tab reaches it.
    await alice.tab_to("#messages")
    await alice.press("Home")
    await alice.press("End")

    # Lock, then unlock with the passphrase.
    await alice.tab_to("#signout")
    await alice.press("Enter")
    await alice_page.wait_for_selector("#signin-form:not([hidden])")
    await _focus_on(alice_page, "si-pass")
    await _layout_is_sound(alice_page, "45-zoom-sign-in")
    await alice.type(PASSPHRASE)
    await alice.press("Enter")
    await alice_page.wait_for_selector(f"#whoami:has-text('{alice_address}')", timeout=WAIT_MS)
    await _layout_is_sound(alice_page, "46-zoom-chats")

    assert errors == []
    assert alice.invisible_focus == set() and bob.invisible_focus == set()
    # Nothing from elsewhere: no font, script, style or image from another origin.
    for name, app in (("alice", alice_app), ("bob", bob_app)):
        own = (app.base, f"ws://127.0.0.1:{app.port}/", "data:", "blob:")
        foreign = [url for url in requests[name] if not url.startswith(own)]
        assert requests[name] and foreign == [], foreign
