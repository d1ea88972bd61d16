"""The /transparency page in a real headless Chromium: the charts render, no script runs."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import httpx

from sottovoce.client import Client
from sottovoce.protocol.public.legal import ROLE_ISSUER, ROLE_JUDICIAL, sign_request
from sottovoce.server.legal.report import (
    COUNTRY_COLOUR,
    NOTHING_COLOUR,
    PROCESS_COLOUR,
    PRODUCED_COLOUR,
    REJECTION_COLOUR,
)
from tests.legal.cli_helpers import register, request_for
from tests.support.browser import chromium, needs_chromium
from tests.support.live_server import LiveServer


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _pixels_of(png: bytes, colour: str) -> int:
    """How many pixels of the screenshot are (nearly) exactly ``colour``."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, width, height, colour_type = 8, [], 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", data[:10])
            assert depth == 8
        elif kind == b"IDAT":
            chunks.append(data)
        pos += 12 + length
    channels = {2: 3, 6: 4}[colour_type]
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, data = line[0], bytearray(line[1:])
        for i in range(stride):  # PNG filters (RFC 2083 §6)
            left = data[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                data[i] = (data[i] + left) & 0xFF
            elif kind == 2:
                data[i] = (data[i] + up) & 0xFF
            elif kind == 3:
                data[i] = (data[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                data[i] = (data[i] + predictor) & 0xFF
        rows.append(bytes(data))
        previous = data
    target = _rgb(colour)
    count = 0
    for line in rows:
        for x in range(0, stride, channels):
            if all(abs(line[x + c] - target[c]) <= 3 for c in range(3)):
                count += 1
    return count


@needs_chromium
async def test_transparency_page_renders_its_charts_in_chromium(
    live_server: LiveServer, tmp_path: Path
) -> None:
    db = live_server.db_path
    fbi = register(db, "us-fbi", "US", "law-enforcement")
    court = register(db, "us-court", "US", "court")
    # One named account exists, so one answer produces data and two produce nothing.
    person = await Client.create_account(tmp_path / "alice", live_server.url, "chat", "alice")
    await person.close()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        for n, process in enumerate(["subpoena", "warrant", "warrant"]):
            signers = [(ROLE_ISSUER, "us-fbi", fbi)]
            if process == "warrant":
                signers.append((ROLE_JUDICIAL, "us-court", court))
            document = sign_request(
                request_for(f"T-{n}", process, "alice" if n == 0 else "nobody", ["subscriber"]),
                signers,
            )
            assert (await http.post("/v1/legal/requests", content=json.dumps(document))).is_success
        await http.post("/v1/legal/requests", content=b"garbage")

    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 900, "height": 1800})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        response = await page.goto(live_server.url + "/transparency")
        assert response is not None and response.status == 200
        assert await page.title() == "Transparency report"
        assert await page.locator("script").count() == 0
        assert await page.locator("svg rect.bar").count() >= 5
        by_process = page.locator("#by-process svg")
        assert "warrant: 2" in (await by_process.get_attribute("aria-label") or "")
        # The bars have real size on screen, in the order of their counts.
        widths = [
            (await bar.bounding_box())["width"]
            for bar in await page.locator("#by-process rect.bar").all()
        ]
        assert len(widths) == 2 and widths[0] < widths[1]  # subpoena 1, warrant 2
        shot = await page.screenshot(full_page=True)
        (tmp_path / "transparency.png").write_bytes(shot)
        for colour in (
            PROCESS_COLOUR,
            COUNTRY_COLOUR,
            PRODUCED_COLOUR,
            NOTHING_COLOUR,
            REJECTION_COLOUR,
        ):
            assert _pixels_of(shot, colour) > 500, f"no {colour} bars on screen"
        # The page loads nothing beyond itself.
        assert requests == [live_server.url + "/transparency"]
