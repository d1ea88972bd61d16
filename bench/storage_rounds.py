"""CPU time of the send path's storage rounds, per send, on the rounds' own thread.

Run ``python bench/storage_rounds.py``. A fresh SQLite file (as a node's) with
``--devices`` accounts; each of ``--rounds`` bursts is ``--sends`` concurrent
one-to-one sends as the storage layer sees them: each send's look-ups (its
device with its standing, whether it was sent before), the send itself, each
recipient stream's read of its unsent rows (two ids in flight) and its
acknowledgement, all through the Repository, concurrent calls sharing rounds
(storage.rounds). Every round's body runs on the round connection's thread
(storage.round_connection) and is timed there with ``time.thread_time``: that
thread's CPU, not wall-clock, so the figures hardly depend on the machine's
load. One JSON object per line and figure, by the body the rounds ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sottovoce.storage.repository import DeviceRecord, Envelope, Repository
from sottovoce.storage.round_connection import RoundConnection

BODY = b"x" * 300  # about a padded one-to-one message's ciphertext


def time_bodies(spent: Counter[str]) -> None:
    """Each round body's thread CPU time into ``spent``, by the body's name."""
    on = RoundConnection._on

    async def timed_on(rounds: Any, engine: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        def timed(*body_args: Any, **body_kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return body(*body_args, **body_kwargs)
            finally:
                spent[getattr(body, "__name__", "round")] += time.thread_time() - start

        return await on(rounds, engine, timed, *args, **kwargs)

    RoundConnection._on = timed_on  # type: ignore[method-assign]


async def burst(repo: Repository, n: int, owners: list[DeviceRecord], sends: int) -> None:
    pairs = [
        (owners[(n * sends + i) % len(owners)], owners[(n * sends + i + 1) % len(owners)])
        for i in range(sends)
    ]

    async def send(i: int, sender: DeviceRecord, recipient: DeviceRecord) -> None:
        handle, app = sender.address.split("@")
        assert await repo.device_and_standing(app, handle, sender.device_id) is not None
        assert not await repo.sent_before(sender.pk, f"m{n}-{i}")
        stored = await repo.enqueue(
            sender=sender,
            message_id=f"m{n}-{i}",
            envelopes=[Envelope(recipient.pk, "message", BODY)],
            server_ts=n,
            max_queue_depth=1000,
        )
        assert stored is not None
        unsent = await repo.fetch_unsent(recipient.pk, 100, [1, 2])
        assert await repo.ack(recipient.pk, [m.id for m in unsent]) == len(unsent)

    await asyncio.gather(*(send(i, s, r) for i, (s, r) in enumerate(pairs)))


async def measure(devices: int, sends: int, rounds: int) -> None:
    spent: Counter[str] = Counter()
    time_bodies(spent)
    with tempfile.TemporaryDirectory() as directory:
        repo = Repository.connect(f"sqlite+aiosqlite:///{Path(directory) / 'node.db'}")
        await repo.migrate()
        try:
            owners = [
                await repo.create_account(
                    app="chat",
                    handle=f"user{i}",
                    account_key=b"k" * 32,
                    device_list=b"l" * 64,
                    device_list_version=1,
                    identity=b"i" * 32,
                    day=0,
                )
                for i in range(devices)
            ]
            await burst(repo, 0, owners, sends)  # renders the statements: not counted
            spent.clear()
            for n in range(1, rounds + 1):
                await burst(repo, n, owners, sends)
        finally:
            await repo.close()
    for name, seconds in (*sorted(spent.items()), ("total", sum(spent.values()))):
        row = {
            "bench": "storage_rounds",
            "metric": "rounds_cpu_us_per_send",
            "body": name,
            "value": round(1e6 * seconds / (rounds * sends), 1),
            "unit": "us",
            "sends_per_burst": sends,
        }
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=64, help="accounts, one device each")
    parser.add_argument("--sends", type=int, default=32, help="sends a round")
    parser.add_argument("--rounds", type=int, default=100, help="rounds measured")
    args = parser.parse_args()
    asyncio.run(measure(args.devices, args.sends, args.rounds))


if __name__ == "__main__":
    main()
