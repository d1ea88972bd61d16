"""The load bench's figures for Synapse on the same machine, for the ratio.

Run ``python bench/synapse_load.py`` (``make bench-load`` runs both). It needs
matrix-synapse in its own virtualenv, ``bench/.synapse/venv`` (git-ignored):
``python -m venv bench/.synapse/venv && bench/.synapse/venv/bin/pip install
matrix-synapse``. Synapse runs as one process on SQLite on 127.0.0.1, every rate
limit lifted, presence off, federation unused.

The equivalent of a Sottovoce send is a room message (``PUT
/rooms/{room}/send/m.room.message/{txn}``) in a two-person room; the equivalent
of live delivery is the receiver's ``/sync`` long poll returning it. Events are
sent as plain ``m.text``: Megolm encryption happens in Matrix clients, not in
Synapse, so leaving it out removes client work from the machine, never server
work. Figures, one JSON object per line, named as in bench/load.py with
``"impl": "synapse"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from sottovoce.server.process import free_port  # noqa: E402

VENV = ROOT / "bench" / ".synapse" / "venv"
PHASE_TIMEOUT_S = 300.0
START_TIMEOUT_S = 120.0
UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}


def emit(**row: Any) -> None:
    print(json.dumps(row), flush=True)


def config(directory: Path, port: int) -> dict[str, Any]:
    return {
        "server_name": "bench.local",
        "pid_file": str(directory / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "media_store_path": str(directory / "media"),
        "signing_key_path": str(directory / "signing.key"),
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "presence": {"enabled": False},
        "rc_message": UNLIMITED,
        "rc_registration": UNLIMITED,
        "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
        "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
        "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
        "rc_room_creation": UNLIMITED,
        "rc_joins_per_room": UNLIMITED,
        "rc_3pid_validation": UNLIMITED,
        "rc_presence": {"per_user": UNLIMITED},
        "rc_delayed_event_mgmt": UNLIMITED,
        "rc_reports": UNLIMITED,
    }


class Synapse:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = directory / "homeserver.yaml"
        # JSON is YAML: no YAML writer needed.
        self.config_path.write_text(json.dumps(config(directory, self.port)))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = str(VENV / "bin" / "python")
        subprocess.run(
            [
                binary,
                "-m",
                "synapse.app.homeserver",
                "-c",
                str(self.config_path),
                "--generate-keys",
            ],
            check=True,
            capture_output=True,
        )
        log = (self.directory / "synapse.log").open("ab")
        self._process = subprocess.Popen(
            [binary, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError((self.directory / "synapse.log").read_text()[-3000:])
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("synapse did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)

    def process(self) -> psutil.Process:
        assert self._process is not None
        return psutil.Process(self._process.pid)


@dataclass
class Pair:
    sender_token: str
    receiver_token: str
    room: str
    sender_id: str
    since: str | None = None
    latencies_ms: list[float] = field(default_factory=list)
    received: int = 0


async def register(http: httpx.AsyncClient) -> tuple[str, str]:
    body = {
        "username": "u" + secrets.token_hex(6),
        "password": secrets.token_hex(12),
        "auth": {"type": "m.login.dummy"},
        "inhibit_login": False,
    }
    response = await http.post("/_matrix/client/v3/register", json=body)
    if response.status_code == 401:  # the first call only announces the flows
        body["auth"]["session"] = response.json()["session"]
        response = await http.post("/_matrix/client/v3/register", json=body)
    response.raise_for_status()
    answer = response.json()
    return answer["access_token"], answer["user_id"]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def make_pairs(http: httpx.AsyncClient, count: int) -> list[Pair]:
    pairs = []
    for _ in range(count):
        sender, sender_id = await register(http)
        receiver, receiver_id = await register(http)
        room = (
            await http.post(
                "/_matrix/client/v3/createRoom",
                json={"preset": "private_chat", "invite": [receiver_id]},
                headers=bearer(sender),
            )
        ).json()["room_id"]
        joined = await http.post(f"/_matrix/client/v3/join/{room}", headers=bearer(receiver))
        joined.raise_for_status()
        pair = Pair(sender, receiver, room, sender_id)
        await sync(http, pair, timeout_ms=0)  # skip the room's creation events
        pairs.append(pair)
    return pairs


async def send_one(http: httpx.AsyncClient, pair: Pair) -> float:
    started = time.perf_counter()
    response = await http.put(
        f"/_matrix/client/v3/rooms/{pair.room}/send/m.room.message/{secrets.token_hex(8)}",
        json={"msgtype": "m.text", "body": f"{time.time_ns()} " + "x" * 60},
        headers=bearer(pair.sender_token),
    )
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


async def sync(http: httpx.AsyncClient, pair: Pair, timeout_ms: int = 30_000) -> int:
    """One /sync long poll: count (and time) the sender's new messages."""
    params: dict[str, Any] = {"timeout": timeout_ms}
    if pair.since:
        params["since"] = pair.since
    response = await http.get(
        "/_matrix/client/v3/sync", params=params, headers=bearer(pair.receiver_token)
    )
    response.raise_for_status()
    answer = response.json()
    pair.since = answer["next_batch"]
    now = time.time_ns()
    room = answer.get("rooms", {}).get("join", {}).get(pair.room, {})
    count = 0
    for event in room.get("timeline", {}).get("events", []):
        if event.get("type") == "m.room.message" and event.get("sender") == pair.sender_id:
            sent_ns = int(event["content"]["body"].split(" ", 1)[0])
            pair.latencies_ms.append((now - sent_ns) / 1e6)
            count += 1
    return count


async def concurrent_phase(
    synapse: Synapse, pairs: list[Pair], per_sender: int, rate: float | None
) -> dict[str, float]:
    for pair in pairs:
        pair.latencies_ms.clear()
        pair.received = 0
    gap = None if rate is None else len(pairs) / rate
    cpu = synapse.process().cpu_times()
    limits = httpx.Limits(max_connections=4 * len(pairs))
    async with httpx.AsyncClient(base_url=synapse.url, timeout=60, limits=limits) as http:

        async def sender(pair: Pair) -> None:
            next_at = time.perf_counter()
            for _ in range(per_sender):
                if gap is not None:
                    next_at += gap
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                await send_one(http, pair)

        async def receiver(pair: Pair) -> None:
            while pair.received < per_sender:
                pair.received += await sync(http, pair)

        started = time.perf_counter()
        receivers = [asyncio.create_task(receiver(p)) for p in pairs]
        await asyncio.wait_for(asyncio.gather(*(sender(p) for p in pairs)), PHASE_TIMEOUT_S)
        sent_s = time.perf_counter() - started
        await asyncio.wait_for(asyncio.gather(*receivers), PHASE_TIMEOUT_S)
        delivered_s = time.perf_counter() - started
    after = synapse.process().cpu_times()
    total = per_sender * len(pairs)
    latencies = sorted(ms for p in pairs for ms in p.latencies_ms)
    return {
        "send": total / sent_s,
        "delivered": total / delivered_s,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1],
        "cpu": after.user + after.system - cpu.user - cpu.system,
    }


async def run(args: argparse.Namespace) -> None:
    tags = {"impl": "synapse", "engine": "sqlite", "nodes": 1, "bench": "load"}
    with tempfile.TemporaryDirectory(prefix="sv-synapse-") as tmp:
        synapse = Synapse(Path(tmp))
        synapse.start()
        try:
            await asyncio.sleep(2.0)
            emit(
                metric="idle_rss_mib",
                value=round(synapse.process().memory_info().rss / 2**20, 1),
                unit="MiB",
                **tags,
            )
            async with httpx.AsyncClient(base_url=synapse.url, timeout=60) as http:
                pairs = await make_pairs(http, args.clients // 2)
                for _ in range(20):
                    await send_one(http, pairs[0])
                samples = [await send_one(http, pairs[0]) for _ in range(args.sequential)]
                await sync(http, pairs[0], timeout_ms=0)
            emit(
                metric="seq_send_median_ms",
                value=round(statistics.median(samples), 2),
                unit="ms",
                **tags,
            )
            full = await concurrent_phase(synapse, pairs, args.messages // len(pairs), None)
            clients = {"clients": args.clients, "messages": args.messages}
            for metric, key in (("send_msgs_per_s", "send"), ("delivered_msgs_per_s", "delivered")):
                emit(metric=metric, value=round(full[key]), unit="msg/s", **tags, **clients)
            emit(metric="server_cpu_s", value=round(full["cpu"], 1), unit="s", **tags, **clients)
            half = await concurrent_phase(
                synapse, pairs, max(1, args.messages // len(pairs) // 2), full["delivered"] / 2
            )
            for name in ("p50", "p99", "max"):
                emit(
                    metric=f"delivery_{name}_ms",
                    value=round(half[name], 1),
                    unit="ms",
                    at_msgs_per_s=round(full["delivered"] / 2),
                    **tags,
                )
        finally:
            synapse.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="users (half send, half receive)")
    parser.add_argument("--messages", type=int, default=2_000, help="messages per concurrent run")
    parser.add_argument("--sequential", type=int, default=100, help="messages, one at a time")
    args = parser.parse_args()
    if not (VENV / "bin" / "python").exists():
        sys.exit(f"no Synapse: create {VENV} and pip install matrix-synapse into it")
    emit(bench="load", metric="machine", cpus=os.cpu_count(), impl="synapse")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
