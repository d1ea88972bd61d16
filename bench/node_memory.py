"""A node's memory: idle after start-up, then after serving signed requests.

Run ``python bench/node_memory.py`` (``--help`` for the bounds). It starts one
node on SQLite as ``bench/load.py`` does (``python -m sottovoce.server``, which
runs under the node's interpreter options, server/launch.py), waits 1 s, then
reads ``/proc/<pid>/smaps_rollup``:

- ``idle_rss_mib``: resident pages, the figure ``bench/load.py`` reports;
- ``idle_uss_mib``: the pages only this process has (private clean + dirty):
  what a second node on the machine would add;
- ``idle_pss_mib``: shared pages divided among the processes mapping them
  (moves with whatever else runs on the machine);
- ``idle_anon_mib`` / ``idle_file_mib``: Python objects and allocators' heaps,
  against the touched pages of shared libraries.

Then ``--devices`` registered devices each send ``--rounds`` signed
``GET /v1/messages``, all devices at once per round, and 1 s later:
``served_rss_mib``, ``served_threads`` and ``server_cpu_ms_per_request``.
docs/performance.md ("Memory") reads these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from tests.support.device import BareDevice  # noqa: E402

from sottovoce.server.process import ServerProcess  # noqa: E402

# A bench must not trip the per-device request bound it is not measuring.
BENCH_RATE = 100_000.0
SETTLE_S = 1.0
MIB = 2**20


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "node_memory", "impl": "sottovoce", "engine": "sqlite", **row}))


def smaps_rollup(pid: int) -> dict[str, int]:
    """Bytes per field of the process's ``/proc/<pid>/smaps_rollup``."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) * 1024
    return fields


async def run(devices: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sv-memory-") as tmp:
        node = ServerProcess(Path(tmp), server_args=("--requests-per-second", str(BENCH_RATE)))
        node.start()
        try:
            assert node._process is not None
            process = psutil.Process(node._process.pid)
            await asyncio.sleep(SETTLE_S)
            memory = smaps_rollup(process.pid)
            uss = memory["Private_Clean"] + memory["Private_Dirty"]
            for metric, value in (
                ("idle_rss_mib", memory["Rss"]),
                ("idle_uss_mib", uss),
                ("idle_pss_mib", memory["Pss"]),
                ("idle_anon_mib", memory["Anonymous"]),
                ("idle_file_mib", memory["Rss"] - memory["Anonymous"]),
            ):
                emit(metric=metric, value=round(value / MIB, 1), unit="MiB")
            async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
                senders = [await BareDevice().register(http) for _ in range(devices)]
                before = sum(process.cpu_times()[:2])
                for _ in range(rounds):
                    answers = await asyncio.gather(
                        *(device.call(http, "GET", "/v1/messages") for device in senders)
                    )
                    assert all(answer.status_code == 200 for answer in answers)
                cpu_s = sum(process.cpu_times()[:2]) - before
            await asyncio.sleep(SETTLE_S)
            requests = devices * rounds
            served = {"devices": devices, "requests": requests}
            rss = process.memory_info().rss
            emit(metric="served_rss_mib", value=round(rss / MIB, 1), unit="MiB", **served)
            emit(metric="served_threads", value=process.num_threads(), unit="threads", **served)
            per_request = round(cpu_s * 1000 / requests, 3)
            emit(metric="server_cpu_ms_per_request", value=per_request, unit="ms", **served)
        finally:
            node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10, help="devices sending at once")
    parser.add_argument("--rounds", type=int, default=30, help="signed requests per device")
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.rounds))


if __name__ == "__main__":
    main()
