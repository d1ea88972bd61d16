"""Load on the real server: simulated clients over real WebSockets on loopback.

Run ``python bench/load.py`` (``--help`` for the bounds). Each client is a
registered device that opens its WebSocket with a signed upgrade and sends
Double Ratchet ciphertext (an established ``protocol.session.Session`` per pair,
padded, as the SDK sends it) as ``send`` frames on it, as the SDK does while it
listens (``--send-over http``: one signed ``POST /v1/messages`` each instead);
each receiver holds a WebSocket, decrypts every envelope and acknowledges the
envelopes one read brought in one ``ack`` frame, as a real client does. A
sender keeps up to ``--window`` sends in flight on its socket (the server
stores them in order). Both sides negotiate ``batch`` frames as the SDK does:
the sends a sender makes in one loop turn go in one frame, and the server's
envelopes and answers that are ready together come in one (docs/api.md).
Figures, one JSON object per line:

- ``send_msgs_per_s``: every sender sending back to back, all at once;
- ``delivered_msgs_per_s``: those messages decrypted and acknowledged by the
  receivers, over the time from the first send to the last receipt;
- ``delivery_p50_ms`` / ``delivery_p99_ms`` / ``delivery_max_ms``: send to
  receipt, while sending at half the delivered rate, or at ``--latency-at``
  messages/s (each sender paced, their starts spread over one gap so that sends
  arrive evenly);
- ``seq_send_median_ms``: one device sending one message at a time;
- ``idle_rss_mib``: the server's RSS with nothing connected;
- ``rss_per_idle_conn_kib``: its RSS growth per idle WebSocket, over ``--idle``;
- ``server_cpu_s``: CPU seconds the server(s) used in the concurrent phase, and
  ``server_cpu_ms_per_msg`` the same per message sent (with its delivery and
  acknowledgement); ``seq_server_cpu_ms_per_msg`` for the sequential phase.
  Per-message CPU moves far less with the machine's load than the rates do;
- ``ws_frames_per_msg``: WebSocket messages per message sent in the concurrent
  phase, both ways and every socket (``to_server``: sends and acks;
  ``from_server``: answers and envelopes), a ``batch`` counting once;
- ``client_cpu_ms_per_msg``: this process's CPU per message in the concurrent
  phase (every simulated client), and on PostgreSQL ``db_cpu_ms_per_msg``, that
  of PostgreSQL and Redis: beside the server's, which side bounds the rate;
- ``redelivered``: envelopes whose message id a receiver had seen, dropped as the
  SDK drops them (acknowledged, not decrypted again), split into
  ``after_reconnect`` (at-least-once: a row whose ack had not committed when the
  receiver's next connection read its queue, as between this bench's phases)
  and ``same_connection`` (the stream sending one row twice: a server bug);
- with ``--intervals S``, ``interval_sent_msgs_per_s`` every S seconds of each
  concurrent phase (``phase``: ``full`` or ``half``), with the delivered rate,
  the server's CPU per message answered and its share of a core in that
  interval: a warm-up or a stall that the phase's totals average away.

The figures are those of a fresh node: the first few hundred messages of the
concurrent phase cost two to four times the CPU of the later ones (each
statement shape of the storage rounds compiled once, the pairs' first look-ups
and first contacts, the new connections' first reads: docs/performance.md,
"Load, session 7"). At ``--messages 4000`` that was a fifth of the phase's
server CPU; from 20,000 (the default) it is a few percent, and the rates and
CPU per message are those of a node that has been serving for a while.

The simulated clients (encryption, decryption, framing) run in this process and
the server in its own. The busy clients' sockets are the ``websockets``
library's sans-I/O protocol on a plain asyncio protocol (bench/frame_socket.py)
and the senders are driven by answers and timers, not a task per message: what
the clients cost is their cryptography, framing and JSON, little bookkeeping.
``--pin-cpus`` pins the server(s) to the first CPU and this process to the
others, so on a two-core machine each side has one core and neither steals the
other's (worth it only on an otherwise quiet machine). The clients' heap is
frozen for each concurrent phase (``gc.freeze``): one process holds all forty
devices, and a full collection of it paused every receiver at once (78–97 ms
on the loaded shared machine), which the latency figures took for the server's.

Engines: one node on SQLite; one and two nodes on PostgreSQL + Redis (two nodes:
senders on one, receivers on the other, so every delivery crosses Redis). The
PostgreSQL cluster and Redis are throwaway ones on loopback (tests/support/
services.py). ``bench/synapse_load.py`` measures Synapse the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.support.device import BareDevice  # noqa: E402

from frame_socket import FrameSocket, OnMessages  # noqa: E402
from ratchet import sottovoce_pair  # noqa: E402
from sottovoce.protocol.padding import pad  # noqa: E402
from sottovoce.server.limits import MAX_FETCH  # noqa: E402
from sottovoce.server.process import ServerProcess  # noqa: E402

# A bench must not trip the per-device request bound it is not measuring.
BENCH_RATE = 100_000.0
TEXT = b"x" * 60  # a short chat message
PHASE_TIMEOUT_S = 120.0
IDLE_CONNS_PER_DEVICE = 100  # inside the per-device burst
# Upgrades in flight while opening the idle sockets: faster than one by one, and
# few enough that the server's memory holds no more than that many handshakes.
IDLE_CONNECTS_AT_ONCE = 20
# Descriptors besides the idle sockets: the other phases' clients, logs, the database.
FD_HEADROOM = 512
# The server applies at most this many ids of one ack frame (server/limits.py).
ACK_IDS_PER_FRAME = MAX_FETCH


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
    # As the SDK (``InboundEnvelope.dedup_key``): a message id seen before is
    # acknowledged and dropped undecrypted. Each id maps to the receiver's
    # connection that first brought it, which tells a repeat after a reconnect
    # (allowed: at-least-once) from one on the same connection (a server bug).
    seen: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    repeats_after_reconnect: int = 0
    repeats_same_connection: int = 0
    # Message ids: unique per sending device (a random prefix, then a count), so
    # none costs a system call for randomness.
    id_prefix: str = field(default_factory=lambda: secrets.token_hex(8))
    sent: int = 0
    recipient_json: str = field(init=False)

    def __post_init__(self) -> None:
        self.recipient_json = json.dumps(self.receiver.address)


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

    def pin_cpus(self) -> None:
        """Every thread of the server(s) on the first CPU, this process on the rest."""
        first, *rest = sorted(os.sched_getaffinity(0))
        for process in self.processes():
            for thread in process.threads():
                os.sched_setaffinity(thread.id, {first})
        os.sched_setaffinity(0, set(rest) or {first})

    def cpu_s(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.processes())

    def services_cpu_s(self) -> float:
        """CPU seconds of PostgreSQL (the postmaster, its live backends and those
        that exited) and Redis; 0 on SQLite, which runs inside the server."""
        if not self._services:
            return 0.0
        postgres, redis = self._services
        pid = int((postgres.data / "postmaster.pid").read_text().split()[0])
        processes = [psutil.Process(pid), psutil.Process(redis._process.pid)]
        total = 0.0
        for process in processes:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += sum(child.cpu_times()[:2])
        return total


def ws_url(base: str) -> str:
    return "ws" + base.removeprefix("http") + "/v1/ws"


async def connect(
    device: BareDevice, base: str, open_timeout: float = 10.0
) -> websockets.ClientConnection:
    """An idle device's socket (the websockets library's own client)."""
    header = device.authorization("GET", "/v1/ws", b"")
    return await websockets.connect(
        ws_url(base), additional_headers={"authorization": header}, open_timeout=open_timeout
    )


# ``--frames single``: no ``batch`` frames, one WebSocket message per frame.
BATCHES = True


async def open_socket(device: BareDevice, base: str, on_messages: OnMessages) -> FrameSocket:
    """A busy device's socket: frames handed over by callback (bench/frame_socket.py)."""
    header = device.authorization("GET", "/v1/ws", b"")
    return await FrameSocket.connect(
        ws_url(base), {"authorization": header}, on_messages, batches=BATCHES
    )


class Receiver:
    """A receiving device's socket for one phase: every envelope that one read
    brought is decrypted, then all of them are acknowledged in one ``ack`` frame
    with their ids (docs/api.md), as the SDK does for a batch; a repeat
    is acknowledged and counted, not decrypted again, as the SDK drops it."""

    def __init__(self, pair: Pair, expected: int) -> None:
        self.pair = pair
        self.expected = expected
        pair.connections += 1
        self.connection = pair.connections
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.socket: FrameSocket | None = None

    async def open(self, base: str) -> Receiver:
        self.socket = await open_socket(self.pair.receiver, base, self.on_messages)
        return self

    def on_messages(self, socket: FrameSocket, frames: list[dict[str, Any]]) -> None:
        pair = self.pair
        ids = []
        for frame in frames:
            if frame.get("type") != "envelope":
                continue
            envelope = frame["envelope"]
            ids.append(envelope["id"])
            key = f"{envelope['sender']}/{envelope['sender_device']}/{envelope['message_id']}"
            first = pair.seen.get(key)
            if first is not None:
                if first == self.connection:
                    pair.repeats_same_connection += 1
                else:
                    pair.repeats_after_reconnect += 1
                continue
            pair.seen[key] = self.connection
            plaintext = pair.session_in.decrypt(base64.b64decode(envelope["body"]))
            sent_ns = int.from_bytes(plaintext[:8], "big")
            pair.latencies_ms.append((time.time_ns() - sent_ns) / 1e6)
            pair.received += 1
        for start in range(0, len(ids), ACK_IDS_PER_FRAME):
            batch = ",".join(map(str, ids[start : start + ACK_IDS_PER_FRAME]))
            socket.send_text(f'{{"type":"ack","ids":[{batch}]}}')
        if pair.received >= self.expected and not self.done.done():
            self.done.set_result(None)

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


def message_to(pair: Pair) -> str:
    """A send's body, JSON text: the send time inside the ciphertext, for the
    latency. Only the id and the ciphertext change (hex and base64: nothing to
    escape), so the text is filled in, not serialized anew."""
    plaintext = time.time_ns().to_bytes(8, "big") + TEXT
    body = b64(pair.session_out.encrypt(pad(plaintext)))
    pair.sent += 1
    return (
        f'{{"message_id":"{pair.id_prefix}{pair.sent:016x}","recipient":{pair.recipient_json},'
        f'"envelopes":[{{"device_id":1,"type":"message","body":"{body}"}}]}}'
    )


Answer = dict[str, Any]
OnAnswer = Callable[[Answer], None]


class SendChannel:
    """A sender's way to the server: ``send`` frames on its WebSocket, answers
    matched by ``request_id`` (docs/api.md), or one signed HTTP request each."""

    def __init__(self, device: BareDevice, base: str, over: str) -> None:
        self.device = device
        self.base = base
        self.over = over
        self._answers: dict[int, OnAnswer] = {}
        self._next_id = 1
        self.socket: FrameSocket | None = None
        self._http: httpx.AsyncClient | None = None
        self._requests: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SendChannel:
        if self.over == "http":
            self._http = httpx.AsyncClient(base_url=self.base, timeout=30)
        else:
            self.socket = await open_socket(self.device, self.base, self._answered)
            self.socket.closed.add_done_callback(self._lost)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self.socket is not None:
            await self.socket.close()

    def _answered(self, _: FrameSocket, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            if frame.get("type") in ("sent", "problem"):
                self._answers.pop(frame["request_id"])(frame)

    def _lost(self, _: object) -> None:
        answers, self._answers = self._answers, {}
        for on_answer in answers.values():
            on_answer({"type": "problem", "detail": "the sender's socket closed mid-send"})

    def post(self, body: str, on_answer: OnAnswer) -> None:
        """Send one message body (JSON text); ``on_answer`` gets the server's answer."""
        if self._http is None:
            assert self.socket is not None
            request_id, self._next_id = self._next_id, self._next_id + 1
            self._answers[request_id] = on_answer
            self.socket.send_text(f'{{"type":"send","request_id":{request_id},"message":{body}}}')
            return
        request = asyncio.create_task(self._post_http(body, on_answer))
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)

    async def _post_http(self, body: str, on_answer: OnAnswer) -> None:
        assert self._http is not None
        response = await self.device.call(self._http, "POST", "/v1/messages", content=body.encode())
        if response.status_code == 200:
            on_answer({"type": "sent"})
        else:
            on_answer({"type": "problem", "status": response.status_code, "detail": response.text})

    async def send(self, body: str) -> None:
        """:meth:`post`, waiting for the answer."""
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.post(body, answer.set_result)
        result = await answer
        if result["type"] != "sent":
            raise RuntimeError(f"send refused: {str(result)[:300]}")


class Sender:
    """One sender of the concurrent phase: ``count`` messages, at most ``window``
    unanswered, each as soon as there is room or, paced, at its time (every
    ``gap`` after ``offset``). Driven by the answers and by timers, not a task
    per message: what it costs is the message's own work (encryption, framing)."""

    def __init__(
        self,
        pair: Pair,
        channel: SendChannel,
        count: int,
        window: int,
        gap: float | None,
        offset: float,
    ) -> None:
        self.pair = pair
        self.channel = channel
        self.count = count
        self.window = window
        self.gap = gap
        self._loop = asyncio.get_running_loop()
        self._next_at = self._loop.time() + offset
        self.due = 0 if gap is not None else count  # paced: due so far
        self.posted = 0
        self.answered = 0
        self.done: asyncio.Future[None] = self._loop.create_future()
        if count == 0:
            self.done.set_result(None)
        elif gap is None:
            self._post_due()
        else:
            self._schedule()

    def _schedule(self) -> None:
        assert self.gap is not None
        self._next_at += self.gap
        self._loop.call_at(self._next_at, self._tick)

    def _tick(self) -> None:
        self.due += 1
        if self.due < self.count:
            self._schedule()
        self._post_due()

    def _post_due(self) -> None:
        # The send time goes into the message as it leaves, after it waited for room.
        while self.posted < self.due and self.posted - self.answered < self.window:
            self.posted += 1
            self.channel.post(message_to(self.pair), self._answer)

    def _answer(self, answer: Answer) -> None:
        if self.done.done():
            return
        if answer["type"] != "sent":
            self.done.set_exception(RuntimeError(f"send refused: {str(answer)[:300]}"))
            return
        self.answered += 1
        if self.answered == self.count:
            self.done.set_result(None)
        else:
            self._post_due()


async def send_one(pair: Pair, channel: SendChannel) -> float:
    started = time.perf_counter()
    await channel.send(message_to(pair))
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


class Intervals:
    """``--intervals``: the concurrent phase second by second (or every ``every``
    seconds), one ``interval_sent_msgs_per_s`` row each: messages answered and
    delivered in it, and the server's CPU per message answered. Shows a warm-up,
    a stall or a tail that the phase's totals average away."""

    def __init__(
        self,
        cpu_s: Callable[[], float],
        senders: list[Sender],
        pairs: list[Pair],
        every: float,
        tags: dict[str, Any],
    ) -> None:
        self._cpu_s = cpu_s  # the server's CPU seconds so far (Deployment.cpu_s)
        self._senders = senders
        self._pairs = pairs
        self._every = every
        self._tags = tags
        self._started = self._last = self._counts()
        self._task = asyncio.create_task(self._sample())

    def _counts(self) -> tuple[float, int, int, float]:
        return (
            time.perf_counter(),
            sum(s.answered for s in self._senders),
            sum(p.received for p in self._pairs),
            self._cpu_s(),
        )

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            self._emit()

    def _emit(self) -> None:
        """The row for the time since the last one."""
        now = self._counts()
        last, self._last = self._last, now
        seconds = max(now[0] - last[0], 1e-9)
        answered, delivered = now[1] - last[1], now[2] - last[2]
        cpu_ms = (now[3] - last[3]) * 1000
        emit(
            metric="interval_sent_msgs_per_s",
            value=round(answered / seconds),
            unit="msg/s",
            delivered_msgs_per_s=round(delivered / seconds),
            server_cpu_ms_per_msg=round(cpu_ms / answered, 3) if answered else None,
            server_cpu_share=round(cpu_ms / 1000 / seconds, 2),
            t_s=round(now[0] - self._started[0], 2),
            sent_so_far=now[1],
            **self._tags,
        )

    async def stop(self) -> None:
        """No more rows but the one for the time since the last."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._emit()


async def concurrent_phase(
    deployment: Deployment,
    pairs: list[Pair],
    per_sender: int,
    rate: float | None,
    *,
    over: str,
    window: int,
    intervals: float = 0.0,
    tags: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Every sender sends ``per_sender`` messages (paced to ``rate`` in all, or as
    fast as the server answers); every receiver takes them over its WebSocket.
    ``intervals``: also a row every that many seconds (:class:`Intervals`)."""
    send_node = deployment.nodes[0].url
    receive_node = deployment.nodes[-1].url
    for pair in pairs:
        pair.latencies_ms.clear()
        pair.received = 0
    receivers = [await Receiver(p, per_sender).open(receive_node) for p in pairs]
    gap = None if rate is None else len(pairs) / rate
    async with contextlib.AsyncExitStack() as stack:
        channels = [
            await stack.enter_async_context(SendChannel(p.sender, send_node, over)) for p in pairs
        ]
        # This process holds every simulated device: a full collection of its
        # heap (sessions, sockets, the modules) paused all their receipts at once,
        # 78-97 ms here, which the latencies took for the server's. A device's own
        # process would hold a fortieth of it: the heap so far sits the phase out.
        gc.collect()
        gc.freeze()
        stack.callback(gc.unfreeze)
        cpu_before = deployment.cpu_s()
        services_cpu_before = deployment.services_cpu_s()
        client_cpu_before = time.process_time()
        frames_before = ws_messages(receivers, channels)

        started = time.perf_counter()
        senders = [
            # Paced senders start a gap's fraction apart, so the sends arrive evenly
            # at the rate, not all senders' at once each gap.
            Sender(p, c, per_sender, window, gap, 0.0 if gap is None else gap * i / len(pairs))
            for i, (p, c) in enumerate(zip(pairs, channels, strict=True))
        ]
        sampler = None
        if intervals:
            phase = {"phase": "full" if rate is None else "half", **(tags or {})}
            sampler = Intervals(deployment.cpu_s, senders, pairs, intervals, phase)
        await asyncio.wait_for(asyncio.gather(*(s.done for s in senders)), PHASE_TIMEOUT_S)
        sent_s = time.perf_counter() - started
        await asyncio.wait_for(asyncio.gather(*(r.done for r in receivers)), PHASE_TIMEOUT_S)
        delivered_s = time.perf_counter() - started
        if sampler is not None:
            await sampler.stop()
    cpu = deployment.cpu_s() - cpu_before
    client_cpu = time.process_time() - client_cpu_before
    frames_in, frames_out = ws_messages(receivers, channels)
    services_cpu = deployment.services_cpu_s() - services_cpu_before
    for receiver in receivers:
        await receiver.close()
    total = per_sender * len(pairs)
    latencies = sorted(ms for p in pairs for ms in p.latencies_ms)
    return {
        "send": total / sent_s,
        "delivered": total / delivered_s,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1],
        "cpu": cpu,
        "client_cpu": client_cpu,
        "services_cpu": services_cpu,
        "frames_in": frames_in - frames_before[0],
        "frames_out": frames_out - frames_before[1],
    }


def ws_messages(receivers: list[Receiver], channels: list[SendChannel]) -> tuple[int, int]:
    """WebSocket messages the server received and sent so far (a batch counts once)."""
    sockets = [r.socket for r in receivers] + [c.socket for c in channels]
    live = [s for s in sockets if s is not None]
    return sum(s.messages_sent for s in live), sum(s.messages_received for s in live)


async def sequential_phase(
    deployment: Deployment, pair: Pair, count: int, over: str
) -> tuple[float, float]:
    """The median send latency, one at a time, and the server's CPU per send."""
    async with SendChannel(pair.sender, deployment.nodes[0].url, over) as channel:
        for _ in range(20):  # warm the connection and caches
            await send_one(pair, channel)
        cpu_before = deployment.cpu_s()
        samples = [await send_one(pair, channel) for _ in range(count)]
        cpu = deployment.cpu_s() - cpu_before
    async with httpx.AsyncClient(base_url=deployment.nodes[-1].url, timeout=30) as http:
        await drain(pair.receiver, http)
    return statistics.median(samples), cpu / count * 1000


async def drain(device: BareDevice, http: httpx.AsyncClient) -> None:
    while True:
        page = (await device.call(http, "GET", "/v1/messages?limit=500")).json()
        ids = [m["id"] for m in page["messages"]]
        if not ids:
            return
        await device.call(http, "POST", "/v1/messages/ack", {"ids": ids})


def raise_fd_limit(connections: int) -> None:
    """Each idle WebSocket is a descriptor here and one in the server, which inherits
    this process's limit: raise the soft limit to the hard one (docs/operations.md)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + FD_HEADROOM
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"--idle {connections} needs {needed} descriptors; ulimit -Hn is {hard}")


async def idle_phase(deployment: Deployment, connections: int) -> tuple[float, float]:
    """RSS with nothing connected, then per idle WebSocket over ``connections``."""
    await asyncio.sleep(1.0)
    idle = deployment.rss_bytes()
    base = deployment.nodes[0].url
    devices = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(max(1, connections // IDLE_CONNS_PER_DEVICE)):
            devices.append(await BareDevice().register(http))
    gate = asyncio.Semaphore(IDLE_CONNECTS_AT_ONCE)

    async def open_idle(device: BareDevice) -> websockets.ClientConnection:
        async with gate:
            # A loaded machine can take seconds over one upgrade among thousands.
            socket = await connect(device, base, open_timeout=PHASE_TIMEOUT_S)
            await socket.recv()  # queue_empty: the server holds it as a live stream
            return socket

    sockets = await asyncio.gather(
        *(open_idle(devices[i % len(devices)]) for i in range(connections))
    )
    await asyncio.sleep(2.0)
    loaded = deployment.rss_bytes()
    await asyncio.gather(*(s.close() for s in sockets))
    return idle / 2**20, (loaded - idle) / connections / 1024


async def run(args: argparse.Namespace, engine: str, nodes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sv-load-") as tmp:
        deployment = Deployment(engine, nodes, Path(tmp))
        if nodes == 1 and args.idle:
            raise_fd_limit(args.idle)  # before the server starts: it inherits the limit
        deployment.start()
        if args.pin_cpus:
            deployment.pin_cpus()
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
            median, seq_cpu_ms = await sequential_phase(
                deployment, pairs[0], args.sequential, args.send_over
            )
            emit(metric="seq_send_median_ms", value=round(median, 2), unit="ms", **tags)
            emit(metric="seq_server_cpu_ms_per_msg", value=round(seq_cpu_ms, 3), unit="ms", **tags)
            how = {"over": args.send_over, "window": args.window}
            sampled = {"intervals": args.intervals, "tags": tags}
            full = await concurrent_phase(
                deployment, pairs, args.messages // len(pairs), None, **how, **sampled
            )
            sent = args.messages // len(pairs) * len(pairs)
            clients = {"clients": args.clients, "messages": sent, "frames": args.frames, **how}
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
            emit(
                metric="server_cpu_ms_per_msg",
                value=round(full["cpu"] / sent * 1000, 3),
                unit="ms",
                **tags,
                **clients,
            )
            emit(
                metric="ws_frames_per_msg",
                value=round((full["frames_in"] + full["frames_out"]) / sent, 3),
                unit="frames",
                to_server=round(full["frames_in"] / sent, 3),
                from_server=round(full["frames_out"] / sent, 3),
                **tags,
                **clients,
            )
            emit(
                metric="client_cpu_ms_per_msg",
                value=round(full["client_cpu"] / sent * 1000, 3),
                unit="ms",
                **tags,
                **clients,
            )
            if engine == "postgresql":
                emit(
                    metric="db_cpu_ms_per_msg",
                    value=round(full["services_cpu"] / sent * 1000, 3),
                    unit="ms",
                    **tags,
                    **clients,
                )
            paced = args.latency_at or full["delivered"] / 2
            half = await concurrent_phase(
                deployment,
                pairs,
                args.messages // len(pairs) // 2,
                paced,
                **how,
                **sampled,
            )
            rate = round(paced)
            for name in ("p50", "p99", "max"):
                emit(
                    metric=f"delivery_{name}_ms",
                    value=round(half[name], 1),
                    unit="ms",
                    at_msgs_per_s=rate,
                    **tags,
                )
            emit(
                metric="redelivered",
                value=sum(p.repeats_after_reconnect + p.repeats_same_connection for p in pairs),
                unit="msg",
                after_reconnect=sum(p.repeats_after_reconnect for p in pairs),
                same_connection=sum(p.repeats_same_connection for p in pairs),
                **tags,
            )
        finally:
            deployment.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=int, default=100, help="devices (half send, half receive)"
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=20_000,
        help="messages per concurrent run (fewer: a fresh node's warm-up weighs in)",
    )
    parser.add_argument("--sequential", type=int, default=300, help="messages, one at a time")
    parser.add_argument("--idle", type=int, default=10_000, help="idle WebSockets (0: skip)")
    parser.add_argument(
        "--send-over",
        choices=("websocket", "http"),
        default="websocket",
        help="send frames on the sender's WebSocket, or one POST /v1/messages each",
    )
    parser.add_argument(
        "--window", type=int, default=16, help="sends in flight per sender (websocket)"
    )
    parser.add_argument(
        "--frames",
        choices=("batched", "single"),
        default="batched",
        help="negotiate batch frames (as the SDK does), or one WebSocket message per frame",
    )
    parser.add_argument(
        "--intervals",
        type=float,
        default=0.0,
        help="also a row every that many seconds of each concurrent phase (0: none)",
    )
    parser.add_argument(
        "--latency-at",
        type=float,
        default=None,
        help="msg/s of the latency phase (default: half the delivered rate)",
    )
    parser.add_argument(
        "--pin-cpus",
        action="store_true",
        help="server(s) on the first CPU, the simulated clients on the others",
    )
    parser.add_argument(
        "--deployments",
        default="sqlite:1,postgresql:1,postgresql:2",
        help="engine:nodes, comma-separated",
    )
    args = parser.parse_args()
    global BATCHES
    BATCHES = args.frames == "batched"
    emit(
        bench="load",
        metric="machine",
        cpus=os.cpu_count(),
        python=platform.python_version(),
        platform=platform.platform(),
    )
    with contextlib.suppress(ImportError):  # the server runs on uvloop too (uvicorn)
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    for deployment in args.deployments.split(","):
        engine, nodes = deployment.split(":")
        asyncio.run(run(args, engine, int(nodes)))


if __name__ == "__main__":
    main()
