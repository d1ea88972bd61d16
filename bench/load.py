"""Load on the real server: simulated clients over real WebSockets on loopback.

Run ``python bench/load.py`` (``--help`` for the bounds). Each client is a
registered device that signs every request with its Ed25519 identity and sends
Double Ratchet ciphertext (an established ``protocol.session.Session`` per pair,
padded, as the SDK sends it); each receiver holds a WebSocket, decrypts every
envelope and acknowledges it. Figures, one JSON object per line:

- ``send_msgs_per_s``: every sender sending back to back, all at once;
- ``delivered_msgs_per_s``: those messages decrypted and acknowledged by the
  receivers, over the time from the first send to the last receipt;
- ``delivery_p50_ms`` / ``delivery_p99_ms`` / ``delivery_max_ms``: send to
  receipt, while sending at half the delivered rate;
- ``seq_send_median_ms``: one device sending one message at a time;
- ``idle_rss_mib``: the server's RSS with nothing connected;
- ``rss_per_idle_conn_kib``: its RSS growth per idle WebSocket, over ``--idle``;
- ``server_cpu_s``: CPU seconds the server(s) used in the concurrent phase.

Engines: one node on SQLite; one and two nodes on PostgreSQL + Redis (two nodes:
senders on one, receivers on the other, so every delivery crosses Redis). The
PostgreSQL cluster and Redis are throwaway ones on loopback (tests/support/
services.py). ``bench/synapse_load.py`` measures Synapse the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.support.device import BareDevice  # noqa: E402

from ratchet import sottovoce_pair  # noqa: E402
from sottovoce.protocol.padding import pad  # noqa: E402
from sottovoce.server.process import ServerProcess  # noqa: E402

# A bench must not trip the per-device request bound it is not measuring.
BENCH_RATE = 100_000.0
TEXT = b"x" * 60  # a short chat message
PHASE_TIMEOUT_S = 120.0
IDLE_CONNS_PER_DEVICE = 100  # inside the per-device burst


def emit(**row: Any) -> None:
    print(json.dumps(row), flush=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Pair:
    sender: BareDevice
    receiver: BareDevice
    session_out: Any
    session_in: Any
    latencies_ms: list[float] = field(default_factory=list)
    received: int = 0


class Deployment:
    """One node on SQLite, or ``nodes`` nodes on one PostgreSQL database and Redis."""

    def __init__(self, engine: str, nodes: int, directory: Path) -> None:
        self.engine = engine
        self.directory = directory
        self._services: list[Any] = []
        db_url = redis_url = None
        if engine == "postgresql":
            from tests.support.services import PostgresCluster, RedisServer

            postgres, redis = PostgresCluster(), RedisServer()
            postgres.init()
            postgres.start()
            redis.start()
            self._services = [postgres, redis]
            db_url, redis_url = postgres.create_database(), redis.url
        args = ("--requests-per-second", str(BENCH_RATE), "--log-level", "warning")
        self.nodes = []
        for i in range(nodes):
            node_dir = directory / f"node-{i}"
            node_dir.mkdir()
            self.nodes.append(
                ServerProcess(node_dir, db_url=db_url, redis_url=redis_url, server_args=args)
            )

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        for service in self._services:
            service.remove()

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(node._process.pid) for node in self.nodes if node._process]

    def rss_bytes(self) -> int:
        return sum(p.memory_info().rss for p in self.processes())

    def cpu_s(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.processes())


def ws_url(base: str) -> str:
    return "ws" + base.removeprefix("http") + "/v1/ws"


async def connect(device: BareDevice, base: str) -> websockets.ClientConnection:
    header = device.authorization("GET", "/v1/ws", b"")
    return await websockets.connect(ws_url(base), additional_headers={"authorization": header})


async def receive(pair: Pair, socket: websockets.ClientConnection, expected: int) -> None:
    """Decrypt, then acknowledge, every envelope until ``expected`` arrived."""
    while pair.received < expected:
        frame = json.loads(await socket.recv())
        if frame.get("type") != "envelope":
            continue
        envelope = frame["envelope"]
        plaintext = pair.session_in.decrypt(base64.b64decode(envelope["body"]))
        sent_ns = int.from_bytes(plaintext[:8], "big")
        pair.latencies_ms.append((time.time_ns() - sent_ns) / 1e6)
        pair.received += 1
        await socket.send(json.dumps({"type": "ack", "ids": [envelope["id"]]}))


async def send_one(pair: Pair, http: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    plaintext = time.time_ns().to_bytes(8, "big") + TEXT
    body = {
        "message_id": secrets.token_hex(16),
        "recipient": pair.receiver.address,
        "envelopes": [
            {
                "device_id": 1,
                "type": "message",
                "body": b64(pair.session_out.encrypt(pad(plaintext))),
            }
        ],
    }
    response = await pair.sender.call(http, "POST", "/v1/messages", body)
    if response.status_code != 200:
        raise RuntimeError(f"send failed: {response.status_code} {response.text[:200]}")
    return (time.perf_counter() - started) * 1000


async def make_pairs(count: int, base: str) -> list[Pair]:
    pairs = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(count):
            sender, receiver = BareDevice(), BareDevice(app="photos")
            await sender.register(http)
            await receiver.register(http)
            out, into = sottovoce_pair()
            pairs.append(Pair(sender, receiver, out, into))
    return pairs


async def concurrent_phase(
    deployment: Deployment, pairs: list[Pair], per_sender: int, rate: float | None
) -> dict[str, float]:
    """Every sender sends ``per_sender`` messages (paced to ``rate`` in all, or as
    fast as the server answers); every receiver takes them over its WebSocket."""
    send_node = deployment.nodes[0].url
    receive_node = deployment.nodes[-1].url
    for pair in pairs:
        pair.latencies_ms.clear()
        pair.received = 0
    sockets = [await connect(p.receiver, receive_node) for p in pairs]
    gap = None if rate is None else len(pairs) / rate
    cpu_before = deployment.cpu_s()
    async with httpx.AsyncClient(
        base_url=send_node, timeout=30, limits=httpx.Limits(max_connections=len(pairs))
    ) as http:

        async def sender(pair: Pair) -> None:
            next_at = time.perf_counter()
            for _ in range(per_sender):
                if gap is not None:
                    next_at += gap
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                await send_one(pair, http)

        started = time.perf_counter()
        receivers = [
            asyncio.create_task(receive(p, s, per_sender))
            for p, s in zip(pairs, sockets, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(sender(p) for p in pairs)), PHASE_TIMEOUT_S)
        sent_s = time.perf_counter() - started
        await asyncio.wait_for(asyncio.gather(*receivers), PHASE_TIMEOUT_S)
        delivered_s = time.perf_counter() - started
    cpu = deployment.cpu_s() - cpu_before
    for socket in sockets:
        await socket.close()
    total = per_sender * len(pairs)
    latencies = sorted(ms for p in pairs for ms in p.latencies_ms)
    return {
        "send": total / sent_s,
        "delivered": total / delivered_s,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1],
        "cpu": cpu,
    }


async def sequential_phase(deployment: Deployment, pair: Pair, count: int) -> float:
    async with httpx.AsyncClient(base_url=deployment.nodes[0].url, timeout=30) as http:
        for _ in range(20):  # warm the connection and caches
            await send_one(pair, http)
        samples = [await send_one(pair, http) for _ in range(count)]
    async with httpx.AsyncClient(base_url=deployment.nodes[-1].url, timeout=30) as http:
        await drain(pair.receiver, http)
    return statistics.median(samples)


async def drain(device: BareDevice, http: httpx.AsyncClient) -> None:
    while True:
        page = (await device.call(http, "GET", "/v1/messages?limit=500")).json()
        ids = [m["id"] for m in page["messages"]]
        if not ids:
            return
        await device.call(http, "POST", "/v1/messages/ack", {"ids": ids})


async def idle_phase(deployment: Deployment, connections: int) -> tuple[float, float]:
    """RSS with nothing connected, then per idle WebSocket over ``connections``."""
    await asyncio.sleep(1.0)
    idle = deployment.rss_bytes()
    base = deployment.nodes[0].url
    devices = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(max(1, connections // IDLE_CONNS_PER_DEVICE)):
            devices.append(await BareDevice().register(http))
    sockets = []
    for i in range(connections):
        sockets.append(await connect(devices[i % len(devices)], base))
        await sockets[-1].recv()  # queue_empty: the server holds it as a live stream
    await asyncio.sleep(2.0)
    loaded = deployment.rss_bytes()
    await asyncio.gather(*(s.close() for s in sockets))
    return idle / 2**20, (loaded - idle) / connections / 1024


async def run(args: argparse.Namespace, engine: str, nodes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sv-load-") as tmp:
        deployment = Deployment(engine, nodes, Path(tmp))
        deployment.start()
        try:
            tags = {"impl": "sottovoce", "engine": engine, "nodes": nodes, "bench": "load"}
            if nodes == 1 and args.idle:
                idle_mib, per_conn_kib = await idle_phase(deployment, args.idle)
                emit(metric="idle_rss_mib", value=round(idle_mib, 1), unit="MiB", **tags)
                emit(
                    metric="rss_per_idle_conn_kib",
                    value=round(per_conn_kib, 1),
                    unit="KiB",
                    connections=args.idle,
                    **tags,
                )
            pairs = await make_pairs(args.clients // 2, deployment.nodes[0].url)
            median = await sequential_phase(deployment, pairs[0], args.sequential)
            emit(metric="seq_send_median_ms", value=round(median, 2), unit="ms", **tags)
            full = await concurrent_phase(deployment, pairs, args.messages // len(pairs), None)
            clients = {"clients": args.clients, "messages": args.messages}
            emit(
                metric="send_msgs_per_s", value=round(full["send"]), unit="msg/s", **tags, **clients
            )
            emit(
                metric="delivered_msgs_per_s",
                value=round(full["delivered"]),
                unit="msg/s",
                **tags,
                **clients,
            )
            emit(metric="server_cpu_s", value=round(full["cpu"], 1), unit="s", **tags, **clients)
            half = await concurrent_phase(
                deployment, pairs, args.messages // len(pairs) // 2, full["delivered"] / 2
            )
            rate = round(full["delivered"] / 2)
            for name in ("p50", "p99", "max"):
                emit(
                    metric=f"delivery_{name}_ms",
                    value=round(half[name], 1),
                    unit="ms",
                    at_msgs_per_s=rate,
                    **tags,
                )
        finally:
            deployment.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=int, default=100, help="devices (half send, half receive)"
    )
    parser.add_argument("--messages", type=int, default=10_000, help="messages per concurrent run")
    parser.add_argument("--sequential", type=int, default=300, help="messages, one at a time")
    parser.add_argument("--idle", type=int, default=10_000, help="idle WebSockets (0: skip)")
    parser.add_argument(
        "--deployments",
        default="sqlite:1,postgresql:1,postgresql:2",
        help="engine:nodes, comma-separated",
    )
    args = parser.parse_args()
    emit(
        bench="load",
        metric="machine",
        cpus=os.cpu_count(),
        python=platform.python_version(),
        platform=platform.platform(),
    )
    for deployment in args.deployments.split(","):
        engine, nodes = deployment.split(":")
        asyncio.run(run(args, engine, int(nodes)))


if __name__ == "__main__":
    main()
