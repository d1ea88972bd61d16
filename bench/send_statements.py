"""Database round trips per one-to-one send: statements and thread hand-offs.

Run ``python bench/send_statements.py``. The app runs in this process on a fresh
SQLite file (as ``tests/server`` runs it); ``--senders`` devices each send to one
recipient over ``POST /v1/messages``, first one at a time, then all at once, and
SQLAlchemy's ``before_cursor_execute`` event counts the statements (on the async
engine and on the rounds' own, storage.round_connection) while wrappers count the
hand-offs to a connection thread: aiosqlite's, one or more a statement, and the
round connection's, one a round (a write's or a read's), and time the rounds'
bodies on their thread (``rounds_cpu_us_per_send``: that thread's CPU time, not
wall-clock). One JSON object per line and figure, ``mode`` ``sequential`` or
``concurrent``.
Counts and CPU time: they hardly depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite.core
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from tests.server.conftest import in_process  # noqa: E402
from tests.support.device import MESSAGES, BareDevice  # noqa: E402

from sottovoce.storage.round_connection import RoundConnection  # noqa: E402


class HandOffs:
    """Counts calls handed to a connection thread, aiosqlite's or the round
    connection's (one each is a queue put, a thread wake-up and a GIL hand-off
    back), and the CPU time the rounds' bodies take on their thread."""

    def __init__(self) -> None:
        self.count = 0
        self.rounds_cpu_s = 0.0
        to_aiosqlite = aiosqlite.core.Connection._execute
        to_rounds = RoundConnection._on

        async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await to_aiosqlite(connection, fn, *args, **kwargs)

        def timed(body: Any) -> Any:
            def run(*args: Any, **kwargs: Any) -> Any:
                start = time.thread_time()
                try:
                    return body(*args, **kwargs)
                finally:
                    self.rounds_cpu_s += time.thread_time() - start

            return run

        async def counted_round(
            rounds: Any, engine: Any, body: Any, *args: Any, **kwargs: Any
        ) -> Any:
            self.count += 1
            return await to_rounds(rounds, engine, timed(body), *args, **kwargs)

        aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
        RoundConnection._on = counted_round  # type: ignore[method-assign]


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "send_statements", **row}), flush=True)


async def measure(senders: int, per_sender: int) -> None:
    hand_offs = HandOffs()
    with tempfile.TemporaryDirectory() as directory:
        async with in_process(Path(directory) / "relay.db") as relay:
            devices = [await BareDevice().register(relay.http) for _ in range(senders)]
            recipient = await BareDevice().register(relay.http)

            async def send(device: BareDevice) -> None:
                body = BareDevice.send_body(recipient.address, body=b"x")
                answer = await device.call(relay.http, "POST", MESSAGES, body)
                if answer.status_code != 200:
                    raise RuntimeError(f"send refused: {answer.status_code} {answer.text}")

            for device in devices:  # first contacts, counted once a day: not measured
                await send(device)
            statements: list[str] = []
            repo = relay.state.repo
            for engine in {repo.engine.sync_engine, repo.rounds_engine}:
                event.listen(
                    engine,
                    "before_cursor_execute",
                    lambda _c, _cur, statement, *_: statements.append(statement),
                )

            async def burst(device: BareDevice) -> None:
                for _ in range(per_sender):
                    await send(device)

            for mode in ("sequential", "concurrent"):
                statements.clear()
                hand_offs.count = 0
                hand_offs.rounds_cpu_s = 0.0
                if mode == "sequential":
                    for _ in range(per_sender):
                        await send(devices[0])
                    sent = per_sender
                else:
                    await asyncio.gather(*(burst(d) for d in devices))
                    sent = per_sender * senders
                emit(
                    metric="statements_per_send",
                    value=round(len(statements) / sent, 2),
                    unit="statements",
                    mode=mode,
                    senders=1 if mode == "sequential" else senders,
                )
                emit(
                    metric="hand_offs_per_send",
                    value=round(hand_offs.count / sent, 2),
                    unit="thread hand-offs",
                    mode=mode,
                    senders=1 if mode == "sequential" else senders,
                )
                emit(
                    metric="rounds_cpu_us_per_send",
                    value=round(1e6 * hand_offs.rounds_cpu_s / sent, 1),
                    unit="us",
                    mode=mode,
                    senders=1 if mode == "sequential" else senders,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=10, help="concurrent sending devices")
    parser.add_argument("--messages", type=int, default=10, help="messages per sender")
    args = parser.parse_args()
    asyncio.run(measure(args.senders, args.messages))


if __name__ == "__main__":
    main()
