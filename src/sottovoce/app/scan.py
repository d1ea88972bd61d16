"""Reading a linking code off a camera frame or a picture: ``POST /api/devices/scan``.

The new device shows its linking code (``protocol.provisioning``) as a QR code of
the text ``sv-link:…``. Debian's Chromium on Linux has no ``BarcodeDetector``
(the Shape Detection API is there only on macOS, ChromeOS and Android), so the
page does what it can do everywhere: it draws a camera frame, or a picture the
person chose, onto a canvas, turns it into one byte of luminance per pixel, and
posts those bytes here. This process decodes them with zxing-cpp, a maintained
C++ port of ZXing. Only raw luminance crosses: the process never parses an image
format, and what it reads is bounded before it is read.
"""

from __future__ import annotations

import asyncio
from typing import Any

import zxingcpp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sottovoce.app.session import AppSession
from sottovoce.protocol.provisioning import TEXT_PREFIX

# The page scales frames down to at most 1280 pixels a side, which still resolves
# the linking code's QR (version 11, 61 modules) at several pixels a module; the
# process takes up to 2048 so a sharper picture is not refused. One byte a pixel.
MAX_FRAME_SIDE = 2048
MAX_FRAME_BYTES = MAX_FRAME_SIDE * MAX_FRAME_SIDE


def decode_linking_code(luminance: bytes, width: int, height: int) -> tuple[str | None, bool]:
    """The linking code a QR code in the frame holds, and whether the frame held some
    other QR code instead (so the page can say it is the wrong one)."""
    frame = memoryview(luminance).cast("B", (height, width))
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    found = zxingcpp.read_barcodes(frame, formats=qr_only)
    for barcode in found:
        if barcode.text.startswith(TEXT_PREFIX):
            return barcode.text, True
    return None, bool(found)


def _refuse(status: int, error: str) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status)


def _dimension(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    if not value.isdigit() or not 0 < int(value) <= MAX_FRAME_SIDE:
        return None
    return int(value)


def add_scan_routes(api: FastAPI, session: AppSession) -> None:
    @api.post("/api/devices/scan", response_model=None)
    async def scan(request: Request) -> dict[str, Any] | JSONResponse:
        """``?width=&height=``, then ``width × height`` luminance bytes as the body:
        ``{"code": "sv-link:…" | null, "qr": bool}``. Linking stays a separate step
        (``/api/devices/link``), which the person confirms."""
        session.client  # noqa: B018 - only a signed-in person links devices
        width, height = _dimension(request, "width"), _dimension(request, "height")
        if width is None or height is None:
            return _refuse(400, f"a frame is 1 to {MAX_FRAME_SIDE} pixels wide and high")
        expected = width * height
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FRAME_BYTES):
            return _refuse(413, f"a frame is at most {MAX_FRAME_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > expected:
                return _refuse(413, f"a {width}×{height} frame is {expected} bytes; more came")
        if len(body) != expected:
            return _refuse(400, f"a {width}×{height} frame is {expected} bytes, not {len(body)}")
        code, qr = await asyncio.to_thread(decode_linking_code, bytes(body), width, height)
        return {"code": code, "qr": qr}
