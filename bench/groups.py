"""Groups through the server: what one send or commit costs as the group grows.

Run ``python bench/groups.py [--sizes 2,10,50]``. It starts the real server on
loopback, creates one account per member (alternating the apps ``chat`` and
``photos``), builds the group with one Add commit and lets every member join, then
prints one JSON object per line: ``{"bench": "groups", "metric", "value", "unit",
"impl", "group_size"}``.

- ``group_send_ms``: one ``groups.send`` of a short text, the sender's MLS
  encryption, its state write and the server's fan-out to every other member
  device (one request, one queue row each) included; mean of ``SENDS``.
- ``group_update_ms``: one ``groups.update`` (an Update commit with path, accepted
  by the server's compare-and-set on the epoch and fanned out); mean of ``COMMITS``.
- ``member_receive_ms``: per message, another member's ``fetch`` of those
  ``SENDS`` messages (HTTP fetch, MLS decryption, the sender check, the store
  write and the acknowledgement).
- ``requests_per_send``: HTTP requests one send makes (target: 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from sottovoce.client import Client
from sottovoce.server.process import ServerProcess

SENDS = 20
COMMITS = 5
APPS = ("chat", "photos")


def result(metric: str, value: float, unit: str, **extra: Any) -> None:
    row = {"bench": "groups", "metric": metric, "value": round(value, 2), "unit": unit}
    print(json.dumps({**row, "impl": "sottovoce", **extra}), flush=True)


async def members(root: Path, url: str, n: int) -> list[Client]:
    async def one(i: int) -> Client:
        handle = f"b{i}-{secrets.token_hex(3)}"
        return await Client.create_account(root / handle, url, APPS[i % 2], handle)

    made: list[Client] = []
    for start in range(0, n, 10):  # ten registrations at a time
        made += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 10))))
    return made


async def measure(root: Path, url: str, size: int) -> None:
    people = await members(root, url, size)
    try:
        creator, *others = people
        name = f"bench-{size}"
        await creator.groups.create(name)
        if others:
            await creator.groups.add(name, *(p.address for p in others))
        await asyncio.gather(*(p.fetch() for p in others))
        requests: list[str] = []
        original = creator._transport.request

        async def counted(method: str, path: str, payload: Any = None) -> Any:
            requests.append(path)
            return await original(method, path, payload)

        creator._transport.request = counted  # type: ignore[method-assign]
        start = time.perf_counter()
        for i in range(SENDS):
            await creator.groups.send(name, f"message {i} of an ordinary length for a chat")
        send_ms = (time.perf_counter() - start) * 1000 / SENDS
        result("group_send_ms", send_ms, "ms", group_size=size)
        result("requests_per_send", len(requests) / SENDS, "requests", group_size=size)
        if others:
            start = time.perf_counter()
            await others[0].fetch()
            receive_ms = (time.perf_counter() - start) * 1000 / SENDS
            result("member_receive_ms", receive_ms, "ms", group_size=size)
        start = time.perf_counter()
        for _ in range(COMMITS):
            await creator.groups.update(name)
        update_ms = (time.perf_counter() - start) * 1000 / COMMITS
        result("group_update_ms", update_ms, "ms", group_size=size)
    finally:
        for person in people:
            await person.close()


async def run(root: Path, url: str, sizes: list[int]) -> None:
    for size in sizes:
        await measure(root / str(size), url, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2,10,50", help="comma-separated group sizes")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="sottovoce-bench-groups-") as tmp:
        root = Path(tmp)
        (root / "server").mkdir()
        with ServerProcess(root / "server", apps=",".join(APPS)) as server:
            asyncio.run(run(root, server.url, sizes))


if __name__ == "__main__":
    main()
