"""Reading a real server's WebSocket the way the multi-node tests do: frame by frame,
skipping the kinds a test does not wait for."""

from __future__ import annotations

import asyncio
import json
from typing import Any

# A bound, not a timing: how long a frame may take before the test calls it lost.
FRAME_TIMEOUT_S = 15.0


async def next_frame(ws: Any, kind: str, timeout_s: float = FRAME_TIMEOUT_S) -> dict[str, Any]:
    """The next frame of this type (``prekeys_low`` and the like come in between)."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if frame["type"] == kind:
            return frame
