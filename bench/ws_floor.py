"""The ceiling the server's stack sets: WebSocket frames through FastAPI and uvicorn
with no Sottovoce code.

Run ``python bench/ws_floor.py``. A child process serves one FastAPI WebSocket
route under uvicorn exactly as ``sottovoce.server.run`` configures it (uvloop,
httptools, the sans-I/O websockets protocol, no compression) and answers every
JSON text frame with a small JSON frame, as the real server answers a ``send``
with ``sent``. ``--connections`` clients (the ``websockets`` library, as
``bench/load.py`` uses) each keep ``--window`` frames in flight. The server is
pinned to the first CPU and the clients to the others, as ``bench/load.py
--pin-cpus`` does. Figures, one JSON object per line:

- ``frame_round_trips_per_s``: frames answered per second;
- ``server_cpu_us_per_round_trip``: the server process's CPU per frame answered.

A one-to-one message costs the real server at least two such round trips (the
sender's ``send`` and its ``sent``; the envelope pushed to the recipient and its
``ack``), so ``1e6 / (2 * server_cpu_us_per_round_trip)`` is the most messages per
second one core can carry before any check, storage or fan-out runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import psutil
import websockets

SERVER = """
import json, sys
import uvicorn
from fastapi import FastAPI, WebSocket

app = FastAPI()

@app.websocket("/ws")
async def frames(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        frame = json.loads(message["text"])
        await websocket.send_text(json.dumps({"type": "sent", "request_id": frame["request_id"]}))

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            ws="websockets-sansio", ws_per_message_deflate=False, log_level="warning")
"""
# A send frame's size in bench/load.py: a padded 60-byte message, base64, in JSON.
PAYLOAD = "x" * 300


def emit(**row: object) -> None:
    print(json.dumps({"bench": "ws_floor", "impl": "fastapi-uvicorn", **row}), flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise SystemExit("the floor server did not start")


async def client(port: int, frames: int, window: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
        room = asyncio.Semaphore(window)
        answered = 0

        async def read() -> None:
            nonlocal answered
            async for _ in ws:
                answered += 1
                room.release()
                if answered == frames:
                    return

        reader = asyncio.create_task(read())
        for request_id in range(frames):
            await room.acquire()
            await ws.send(json.dumps({"type": "send", "request_id": request_id, "m": PAYLOAD}))
        await reader


async def measure(port: int, server: psutil.Process, args: argparse.Namespace) -> None:
    await wait_listening(port)
    await client(port, 200, args.window)  # warm up
    cpu_before = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    await asyncio.gather(*(client(port, args.frames, args.window) for _ in range(args.connections)))
    elapsed = time.perf_counter() - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    total = args.frames * args.connections
    tags = {"connections": args.connections, "window": args.window}
    emit(metric="frame_round_trips_per_s", value=round(total / elapsed), unit="frame/s", **tags)
    emit(
        metric="server_cpu_us_per_round_trip",
        value=round(cpu / total * 1e6, 1),
        unit="us",
        **tags,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--frames", type=int, default=2000, help="frames per connection")
    parser.add_argument("--window", type=int, default=16, help="frames in flight per connection")
    args = parser.parse_args()
    port = free_port()
    child = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        first, *rest = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(child.pid, {first})  # before its threads start: they inherit it
        os.sched_setaffinity(0, set(rest) or {first})
        server = psutil.Process(child.pid)
        import uvloop

        uvloop.run(measure(port, server, args))
    finally:
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    main()
