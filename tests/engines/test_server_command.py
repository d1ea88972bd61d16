"""The operator's command from docs/operations.md, as typed: two nodes started with
``sottovoce server --db postgresql://… --redis redis://… --blob-dir …`` on one
database and one Redis, and a message sent through one reaching a device on the
other over its WebSocket."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from sottovoce.server.process import free_port
from tests.support.device import MESSAGES, WEBSOCKET, BareDevice
from tests.support.frames import next_frame
from tests.support.services import SUPERUSER, PostgresCluster, RedisServer

START_TIMEOUT_S = 30.0
COMMAND = str(Path(sys.executable).parent / "sottovoce")


class CommandNode:
    def __init__(self, directory: Path, db: str, redis: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "server.log"
        self.argv = [
            COMMAND,
            "server",
            "--db",
            db,
            "--redis",
            redis,
            "--port",
            str(self.port),
            "--apps",
            "chat,photos",
            "--blob-dir",
            str(directory / "blobs"),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-2000:]
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the node never answered /healthz")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None


@pytest.fixture
def command_nodes(
    running_services: tuple[PostgresCluster, RedisServer], tmp_path: Path
) -> Iterator[tuple[CommandNode, CommandNode]]:
    postgres, redis = running_services
    name = postgres.create_database().rsplit("/", 1)[1]
    db = f"postgresql://{SUPERUSER}@127.0.0.1:{postgres.port}/{name}"  # as an operator writes it
    nodes = []
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        nodes.append(CommandNode(tmp_path / label, db, redis.url))
    try:
        for node in nodes:
            node.start()
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.stop()


async def test_sottovoce_server_with_db_and_redis_urls_joins_the_nodes(
    command_nodes: tuple[CommandNode, CommandNode],
) -> None:
    a, b = command_nodes
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as http_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as http_b,
    ):
        alice = await BareDevice().register(http_b)
        bob = await BareDevice(app="photos").register(http_a)  # one log, both nodes
        header = bob.authorization("GET", WEBSOCKET, b"")
        url = "ws" + a.url.removeprefix("http") + WEBSOCKET
        async with websockets.connect(url, additional_headers={"authorization": header}) as ws:
            await next_frame(ws, "queue_empty")
            body = BareDevice.send_body(bob.address)
            assert (await alice.call(http_b, "POST", MESSAGES, body)).status_code == 200
            frame = await next_frame(ws, "envelope")
            assert frame["envelope"]["message_id"] == body["message_id"]
        for http in (http_a, http_b):
            assert "sottovoce_redis_connected 1.0" in (await http.get("/metrics")).text
