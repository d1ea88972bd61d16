"""The demo's app act: two people, each with their own ``sottovoce app`` process and
browser window (headless Chromium), sign up and talk live (docs/app.md)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from rich.text import Text

from sottovoce.demo.chromium import CHROMIUM, CHROMIUM_ARGS
from sottovoce.demo.leaks import find_leaks, server_files
from sottovoce.demo.stage import Stage, announce, console

WAIT_MS = 30_000
PASSPHRASE = "demo passphrase for the app"  # noqa: S105  (a throwaway demo profile)
_URL = re.compile(r"^open (http://127\.0\.0\.1:\d+/#k=[A-Za-z0-9_-]+)$")


def _start_app(profile: Path, server_url: str) -> tuple[subprocess.Popen[str], str]:
    command = str(Path(sys.executable).with_name("sottovoce"))
    process = subprocess.Popen(  # noqa: S603  (this interpreter's own entry point)
        [command, "--profile", str(profile), "app", "--no-browser", "--server", server_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    match = _URL.match(process.stdout.readline().strip())
    if match is None:
        process.terminate()
        raise RuntimeError("sottovoce app did not print its URL")
    return process, match.group(1)


async def two_windows_in_the_app(stage: Stage) -> None:
    from playwright.async_api import async_playwright

    announce(
        "The app: two people, two browser windows",
        "Each person's own client process serves the app on 127.0.0.1; the page holds no keys.",
    )
    if shutil.which(CHROMIUM) is None:
        stage.failures.append("Debian's chromium is missing (tools/debian-packages.txt)")
        return
    people = (("demo-e", "chat"), ("demo-f", "photos"))
    processes = [_start_app(stage.workdir / f"app-{h}", stage.server.url) for h, _ in people]
    texts = ["hello from the app window", "and back, live"]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
            )
            pages = []
            for (handle, app), (_, url) in zip(people, processes, strict=True):
                page = await (await browser.new_context()).new_page()
                await page.goto(url)
                await page.fill("#su-app", app)
                await page.fill("#su-handle", handle)
                await page.fill("#su-pass", PASSPHRASE)
                await page.keyboard.press("Enter")
                await page.wait_for_selector(f"#whoami:has-text('{handle}@{app}')")
                console.print(
                    Text.assemble("signed up ", (f"{handle}@{app}", "bold"), " in a window")
                )
                pages.append(page)
            e, f = pages
            await e.fill("#new-peer", "demo-f@photos")
            await e.keyboard.press("Enter")
            await e.fill("#compose", texts[0])
            await e.keyboard.press("Enter")
            await f.click("#requests button:has-text('demo-e@chat')", timeout=WAIT_MS)
            await f.click("#request-bar button[data-request='accept']")
            await f.fill("#compose", texts[1])
            await f.keyboard.press("Enter")
            await e.wait_for_selector(f".msg.in:has-text('{texts[1]}')", timeout=WAIT_MS)
            shot = stage.workdir / "app-window.png"
            await e.screenshot(path=str(shot))
            console.print(f"demo-e's window shows the reply, pushed live ({shot.name} saved)")
            await browser.close()
    except Exception as exc:  # a demo act reports, the next acts still run
        stage.failures.append(f"the app act failed: {type(exc).__name__}: {exc}")
        console.print(f"[bold red]FAIL[/]: the app act failed ({type(exc).__name__})")
        return
    finally:
        for process, _ in processes:
            process.terminate()
            process.wait(10)
    leaks = find_leaks(server_files(stage.server.directory), {t: t.encode() for t in texts})
    for leak in leaks:
        stage.failures.append(f"{leak.needle!r} is in {leak.file} ({leak.form})")
    if not leaks:
        console.print("[bold green]PASS[/]: the app's messages appear in no server file")
