"""Attachment encryption, upload and download through the SDK and the real server.

Run ``python bench/attachments.py`` (sizes in MiB: ``BENCH_ATTACHMENT_MIB=20,100``,
the default). It starts the real server (SQLite, blob files in its directory) on
loopback, creates an account, and for each size streams a file of random bytes
from disk through ``Client.upload_attachment`` (1 MiB reads, AES-256-GCM per
256 KiB chunk, signed 3.5 MiB segments, two in flight, each fsync'd by the
server), then ``download_attachment`` (every chunk and the digest checked,
ciphertext written to disk). One JSON line per figure and size:

- ``encrypt_only_mib_per_s``: the chunked encryption alone, in memory (no size);
- ``upload_mib_per_s``: file size over the upload's wall time, end to end;
- ``download_mib_per_s``: the same for the download and its checks;
- ``*_client_cpu_s`` / ``*_server_cpu_s``: CPU seconds (user + system) each process
  spent on it — on a shared machine the steadier figure;
- ``*_client_rss_growth_mib`` / ``*_server_rss_growth_mib``: the process's peak RSS
  during the transfer (the kernel's high-water mark, reset before it) above its
  RSS once the account exists, before the first transfer: flat memory means the
  same few segments at every size, not the file.

The last line names the machine and the load average before and after.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

from sottovoce.client import Client
from sottovoce.client.attachments import ChunkEncryptor
from sottovoce.crypto.password import Argon2Parameters
from sottovoce.server.process import ServerProcess

MIB = 1024 * 1024
SIZES_MIB = [int(s) for s in os.environ.get("BENCH_ATTACHMENT_MIB", "20,100").split(",")]
READ = MIB


def result(metric: str, value: float, unit: str, **extra: Any) -> None:
    row = {"bench": "attachments", "metric": metric, "value": round(value, 2), "unit": unit}
    print(json.dumps({**row, "impl": "sottovoce", **extra}), flush=True)


class Usage:
    """CPU time and peak RSS of one process (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self._pid = pid
        self._baseline = self._status_kib("VmRSS")

    def _status_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self._pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise LookupError(field)

    def start(self) -> None:
        # "5" resets the peak RSS (VmHWM) to the current RSS (proc(5), clear_refs).
        Path(f"/proc/{self._pid}/clear_refs").write_text("5")
        self._cpu = self._cpu_s()

    def _cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> tuple[float, float]:
        """CPU seconds since :meth:`start`, and the peak RSS growth in MiB."""
        return self._cpu_s() - self._cpu, (self._status_kib("VmHWM") - self._baseline) / 1024


async def read_file(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while data := source.read(READ):
            yield data


async def measured(
    what: str, size: int, client: Usage, server: Usage, run: Callable[[], Awaitable[Any]]
) -> Any:
    client.start()
    server.start()
    start = time.perf_counter()
    answer = await run()
    elapsed = time.perf_counter() - start
    client_cpu, client_rss = client.stop()
    server_cpu, server_rss = server.stop()
    mib = size // MIB
    result(f"{what}_mib_per_s", size / MIB / elapsed, "MiB/s", size_mib=mib)
    result(f"{what}_client_cpu_s", client_cpu, "s", size_mib=mib)
    result(f"{what}_server_cpu_s", server_cpu, "s", size_mib=mib)
    result(f"{what}_client_rss_growth_mib", client_rss, "MiB", size_mib=mib)
    result(f"{what}_server_rss_growth_mib", server_rss, "MiB", size_mib=mib)
    return answer


def encrypt_only(size: int) -> None:
    encryptor = ChunkEncryptor(bytes(32))
    block = secrets.token_bytes(MIB)
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(size // MIB):
        encryptor.update(block)
    encryptor.finalize()
    result("encrypt_only_mib_per_s", size / MIB / (time.perf_counter() - start), "MiB/s")
    result("encrypt_only_cpu_s", time.process_time() - cpu, "s", size_mib=size // MIB)


async def main() -> None:
    load_before = os.getloadavg()
    encrypt_only(max(SIZES_MIB) * MIB)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
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
            assert server._process is not None
            client_usage, server_usage = Usage(os.getpid()), Usage(server._process.pid)
            for mib in SIZES_MIB:
                size = mib * MIB
                file = root / f"file-{mib}.bin"
                with file.open("wb") as out:
                    for _ in range(mib):
                        out.write(secrets.token_bytes(MIB))
                pointer = await measured(
                    "upload",
                    size,
                    client_usage,
                    server_usage,
                    lambda file=file, size=size: client.upload_attachment(
                        read_file(file), size, file.name, "application/octet-stream"
                    ),
                )
                await measured(
                    "download",
                    size,
                    client_usage,
                    server_usage,
                    lambda pointer=pointer: client.download_attachment(pointer),
                )
                file.unlink()
            await client.close()
        finally:
            server.stop()
    machine = {"machine": platform.platform(), "cpus": os.cpu_count()}
    load = {"load_before": load_before, "load_after": os.getloadavg()}
    print(json.dumps({"bench": "attachments", **machine, **load}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
