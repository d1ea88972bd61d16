"""Linking a device by scanning its QR code: with the camera, and from a picture.

Debian's headless Chromium gets a fake camera (``--use-file-for-fake-video-capture``)
that plays a Y4M video of the new device's QR code, generated here from the code
the new device really shows (``Client.begin_link``); the page reads frames, the app
process decodes them (``app/scan.py``), the person presses "Link device", and the
new device finishes linking against the real server.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import segno

from sottovoce.app.scan import MAX_FRAME_BYTES, MAX_FRAME_SIDE, decode_linking_code
from sottovoce.client import Client
from tests.app.app_process import AppProcess
from tests.support.browser import chromium, needs_chromium
from tests.support.live_server import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "app"
WAIT_MS = 30_000
FRAME_W, FRAME_H = 640, 480

pytestmark = needs_chromium


def _qr_luminance(text: str, width: int, height: int, *, scale: int) -> bytes:
    """A grey frame (one byte a pixel) with the QR code of ``text`` in its middle."""
    matrix = [list(row) for row in segno.make(text, error="m").matrix_iter(border=4, scale=scale)]
    side = len(matrix)
    assert side <= min(width, height)
    top, left = (height - side) // 2, (width - side) // 2
    frame = bytearray(b"\xc8" * (width * height))  # a light grey room
    for y, row in enumerate(matrix):
        start = (top + y) * width + left
        frame[start : start + side] = bytes(0 if dark else 255 for dark in row)
    return bytes(frame)


def _y4m(text: str, path: Path, frames: int = 5) -> None:
    """A Y4M (YUV 4:2:0) video Chromium's fake camera plays in a loop."""
    luma = _qr_luminance(text, FRAME_W, FRAME_H, scale=6)
    chroma = b"\x80" * (FRAME_W // 2 * FRAME_H // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{FRAME_W} H{FRAME_H} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)


def _png(text: str, path: Path) -> None:
    segno.make(text, error="m").save(str(path), kind="png", scale=8, border=4)


@pytest.fixture
def alice_app(app_server: LiveServer, tmp_path: Path) -> Iterator[AppProcess]:
    app = AppProcess(tmp_path / "alice", app_server.url, tmp_path / "alice.log")
    app.start()
    try:
        yield app
    finally:
        app.stop()


async def _finish(pending: object, profile: Path, server_url: str) -> Client:
    return await Client.finish_link(pending, profile, server_url)  # type: ignore[arg-type]


async def test_link_a_device_by_scanning_its_code(
    alice_app: AppProcess, app_server: LiveServer, tmp_path: Path
) -> None:
    # The new device shows its code; the camera will see it.
    pending = await Client.begin_link(app_server.url)
    video = tmp_path / "camera.y4m"
    _y4m(pending.code_text, video)
    finishing = asyncio.create_task(_finish(pending, tmp_path / "laptop", app_server.url))
    handle = f"alice-{secrets.token_hex(3)}"
    linked: list[Client] = []
    camera = (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        async with chromium(*camera) as browser:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(alice_app.launch_url)
            await page.fill("#su-app", "chat")
            await page.fill("#su-handle", handle)
            await page.fill("#su-pass", "correct horse battery staple")
            await page.keyboard.press("Enter")
            await page.wait_for_selector(f"#whoami:has-text('{handle}@chat')", timeout=WAIT_MS)

            await page.click("#devices-panel summary")
            await page.wait_for_selector("#devices li:has-text('Device 1 (this one)')")
            await page.click("#scan-start")
            await page.wait_for_function(
                "() => document.getElementById('link-code').value.startsWith('sv-link:')",
                timeout=WAIT_MS,
            )
            assert await page.input_value("#link-code") == pending.code_text
            # The camera is off again once the code is read; linking waits for the person.
            assert await page.is_hidden("#scan-video")
            assert not finishing.done()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "10-scan-code.png"), full_page=True)
            await page.click("#link-form button[type='submit']")
            laptop = await asyncio.wait_for(finishing, 60)
            linked.append(laptop)
            assert laptop.address == f"{handle}@chat" and laptop.device_id == 2
            await page.wait_for_selector("#devices li:has-text('Device 2')", timeout=WAIT_MS)

            # A picture of a code works the same way; a picture of another QR says so.
            other = tmp_path / "menu.png"
            _png("https://example.invalid/menu", other)
            await page.set_input_files("#scan-file", str(other))
            await page.wait_for_selector(
                "#scan-status:has-text('not a Sottovoce linking code')", timeout=WAIT_MS
            )
            phone = await Client.begin_link(app_server.url)
            picture = tmp_path / "code.png"
            _png(phone.code_text, picture)
            finishing = asyncio.create_task(_finish(phone, tmp_path / "phone", app_server.url))
            await page.set_input_files("#scan-file", str(picture))
            await page.wait_for_function(
                "(code) => document.getElementById('link-code').value === code",
                arg=phone.code_text,
                timeout=WAIT_MS,
            )
            await page.click("#link-form button[type='submit']")
            linked.append(await asyncio.wait_for(finishing, 60))
            await page.wait_for_selector("#devices li:has-text('Device 3')", timeout=WAIT_MS)
            assert [d.device_id for d in await linked[0].devices()] == [1, 2, 3]
            assert errors == [], errors
    finally:
        if not finishing.done():
            finishing.cancel()
        for client in linked:
            await client.close()


def test_frame_uploads_are_bounded_and_guarded(alice_app: AppProcess) -> None:
    origin = {"Origin": alice_app.base.rstrip("/")}
    with httpx.Client(base_url=alice_app.base, headers=origin, timeout=60) as http:
        frame = b"\xff" * 64 * 48
        # No session cookie yet: refused before anything is read.
        assert http.post("/api/devices/scan?width=64&height=48", content=frame).status_code == 403
        assert http.post("/api/session", json={"token": alice_app.token}).status_code == 200
        # Signed in only: a locked app decodes nothing.
        assert http.post("/api/devices/scan?width=64&height=48", content=frame).status_code == 401
        answer = http.post(
            "/api/signup",
            json={
                "server": alice_app.server_url,
                "app": "chat",
                "handle": f"scan-{secrets.token_hex(3)}",
                "passphrase": "a passphrase",
            },
        )
        assert answer.status_code == 200, answer.text
        blank = http.post("/api/devices/scan?width=64&height=48", content=frame)
        assert blank.status_code == 200 and blank.json() == {"code": None, "qr": False}

        too_big = http.post(
            f"/api/devices/scan?width={MAX_FRAME_SIDE}&height={MAX_FRAME_SIDE}",
            content=b"\x00" * (MAX_FRAME_BYTES + 1),
        )
        assert too_big.status_code == 413 and "at most" in too_big.json()["error"]
        longer = http.post("/api/devices/scan?width=64&height=48", content=frame + b"\x00")
        assert longer.status_code == 413
        shorter = http.post("/api/devices/scan?width=64&height=48", content=frame[:-1])
        assert shorter.status_code == 400 and "bytes" in shorter.json()["error"]
        for query in ("width=0&height=48", f"width={MAX_FRAME_SIDE + 1}&height=1", "width=-3"):
            bad = http.post(f"/api/devices/scan?{query}", content=frame)
            assert bad.status_code == 400 and "pixels" in bad.json()["error"]
        # Another web page cannot post frames, even with the cookie the browser holds.
        foreign = http.post(
            "/api/devices/scan?width=64&height=48",
            content=frame,
            headers={"Origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
        assert http.get("/api/state").json()["status"] == "open"  # still serving


def test_decoding_finds_the_linking_code_among_other_codes() -> None:
    code = "sv-link:" + "A" * 243
    frame = _qr_luminance(code, FRAME_W, FRAME_H, scale=5)
    assert decode_linking_code(frame, FRAME_W, FRAME_H) == (code, True)
    other = _qr_luminance("WIFI:S:cafe;;", FRAME_W, FRAME_H, scale=5)
    assert decode_linking_code(other, FRAME_W, FRAME_H) == (None, True)
    assert decode_linking_code(b"\x80" * FRAME_W * FRAME_H, FRAME_W, FRAME_H) == (None, False)
