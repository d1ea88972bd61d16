"""A 100 MiB attachment streams: neither the uploading process nor the server ever
holds the file (peak RSS above the start stays far below its size)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from sottovoce.client import Client
from sottovoce.client.attachments import MAX_ATTACHMENT_BYTES
from sottovoce.crypto.password import Argon2Parameters
from tests.support.live_server import LiveServer

MIB = 1024 * 1024
# Well below the file: a process that buffered the plaintext or the ciphertext
# whole would exceed it; streaming needs a few 3.5 MiB segments plus allocator
# slack (docs/performance.md, "Attachments": 27 - 47 MiB on the client, ~15 on
# the server).
BOUND_MIB = 70


class PeakRss:
    """The kernel's RSS high-water mark of one process, reset when the watch starts."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # proc(5): reset VmHWM
        self._start = self._kib("VmRSS")

    def _kib(self, field: str) -> int:
        line = next(x for x in self._status.read_text().splitlines() if x.startswith(field))
        return int(line.split()[1])

    def growth_mib(self) -> float:
        return (self._kib("VmHWM") - self._start) / 1024


async def _file(size: int) -> AsyncIterator[bytes]:
    block = secrets.token_bytes(MIB)
    for i in range(0, size, MIB):
        yield block[: min(MIB, size - i)]


async def test_a_100_mib_upload_and_download_keep_memory_flat(
    live_server: LiveServer, tmp_path: Path
) -> None:
    client = await Client.create_account(
        tmp_path / "a",
        live_server.url,
        "chat",
        f"alice-{secrets.token_hex(3)}",
        passphrase="p",
        argon2=Argon2Parameters(memory_kib=8192, iterations=1, lanes=1),
    )
    assert live_server._process is not None
    try:
        size = MAX_ATTACHMENT_BYTES
        mine, server = PeakRss(os.getpid()), PeakRss(live_server._process.pid)
        pointer = await client.upload_attachment(_file(size), size, "big.bin", "a/b")
        assert mine.growth_mib() < BOUND_MIB, mine.growth_mib()
        assert server.growth_mib() < BOUND_MIB, server.growth_mib()

        mine, server = PeakRss(os.getpid()), PeakRss(live_server._process.pid)
        path = await client.download_attachment(pointer)
        assert path.stat().st_size > size
        assert mine.growth_mib() < BOUND_MIB, mine.growth_mib()
        assert server.growth_mib() < BOUND_MIB, server.growth_mib()
    finally:
        await client.close()
