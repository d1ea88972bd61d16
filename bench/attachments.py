"""Attachment encryption and upload: 100 MiB through the SDK to the real server.

Run ``python bench/attachments.py``. It starts the real server (SQLite) on
loopback, creates an account, and streams a 100 MiB file from disk through
``Client.upload_attachment`` (read, AES-256-GCM per 256 KiB chunk, signed 3.5 MiB
segments, stored by the server), then downloads and checks it
(``download_attachment``). One JSON line per figure:

- ``encrypt_upload_mib_per_s``: file size over the wall time of the upload, end to end;
- ``encrypt_only_mib_per_s``: the chunked encryption alone, in memory;
- ``download_check_mib_per_s``: download, per-chunk and digest checks, written to disk;
- ``peak_rss_growth_mib``: the process's peak RSS during the upload above what it was
  before (flat memory means a few segments, not the file).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sottovoce.client import Client
from sottovoce.client.attachments import ChunkEncryptor
from sottovoce.crypto.password import Argon2Parameters
from sottovoce.server.process import ServerProcess

MIB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_ATTACHMENT_MIB", "100")) * MIB
READ = MIB


def result(metric: str, value: float, unit: str, **extra: Any) -> None:
    row = {"bench": "attachments", "metric": metric, "value": round(value, 2), "unit": unit}
    print(json.dumps({**row, "impl": "sottovoce", **extra}), flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def read_file(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while data := source.read(READ):
            yield data


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        file = root / "file.bin"
        with file.open("wb") as out:
            for _ in range(SIZE // MIB):
                out.write(secrets.token_bytes(MIB))
        encryptor = ChunkEncryptor(bytes(32))
        block = secrets.token_bytes(MIB)
        start = time.perf_counter()
        for _ in range(SIZE // MIB):
            encryptor.update(block)
        encryptor.finalize()
        result("encrypt_only_mib_per_s", SIZE / MIB / (time.perf_counter() - start), "MiB/s")

        server = ServerProcess(root / "server")
        server.directory.mkdir()
        server.start()
        try:
            client = await Client.create_account(
                root / "alice",
                server.url,
                "chat",
                f"bench-{secrets.token_hex(3)}",
                passphrase="bench",
                argon2=Argon2Parameters(memory_kib=8192, iterations=1, lanes=1),
            )
            before = peak_rss_mib()
            start = time.perf_counter()
            pointer = await client.upload_attachment(
                read_file(file), SIZE, "file.bin", "application/octet-stream"
            )
            elapsed = time.perf_counter() - start
            result("encrypt_upload_mib_per_s", SIZE / MIB / elapsed, "MiB/s", size_mib=SIZE // MIB)
            result("peak_rss_growth_mib", peak_rss_mib() - before, "MiB", size_mib=SIZE // MIB)
            start = time.perf_counter()
            await client.download_attachment(pointer)
            elapsed = time.perf_counter() - start
            result("download_check_mib_per_s", SIZE / MIB / elapsed, "MiB/s", size_mib=SIZE // MIB)
            await client.close()
        finally:
            server.stop()
    print(json.dumps({"bench": "attachments", "machine": platform.platform()}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
