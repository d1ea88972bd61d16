"""How the demo drives Debian's headless Chromium; the app's tests and benchmark
drive it the same way (tests/support/browser.py, bench/app_history.py).

Playwright is pointed at the system browser (``executable_path``), never one it
would download, and the browser reaches nothing but the loopback servers on this
machine: no background networking, component updates or sync.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
