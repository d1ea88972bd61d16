"""The nginx and HAProxy configurations docs/operations.md gives an operator work as
written: each block is taken from the document, pointed at three real nodes on one
PostgreSQL and one Redis (only the node addresses and the TLS listener change),
checked by the balancer itself (``nginx -t``, ``haproxy -c``), and started; a device
listening on a WebSocket through it receives a message sent through it, and
``/metrics`` stays off the public side."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from sottovoce.server.process import ServerProcess, free_port
from tests.support.device import MESSAGES, WEBSOCKET, BareDevice
from tests.support.frames import next_frame
from tests.support.services import PostgresCluster, RedisServer

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
# The documented node addresses, in order: 10.0.0.11:8000, 10.0.0.12:8000, 10.0.0.13:8000.
DOC_NODE = re.compile(r"10\.0\.0\.1([1-3]):8000")
START_TIMEOUT_S = 20.0


def documented(language: str) -> str:
    """The one fenced block of this language in docs/operations.md."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", OPERATIONS.read_text(), re.S | re.M)
    assert len(blocks) == 1, f"expected one ```{language} block in {OPERATIONS}"
    return str(blocks[0])


def on_loopback(config: str, ports: list[int]) -> str:
    return DOC_NODE.sub(lambda m: f"127.0.0.1:{ports[int(m.group(1)) - 1]}", config)


@pytest.fixture(scope="module")
def node_ports(
    running_services: tuple[PostgresCluster, RedisServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[int]]:
    postgres, redis = running_services
    db_url = postgres.create_database()
    nodes = [
        ServerProcess(tmp_path_factory.mktemp(f"node{i}"), db_url=db_url, redis_url=redis.url)
        for i in range(3)
    ]
    try:
        for node in nodes:
            node.start()
        yield [node.port for node in nodes]
    finally:
        for node in nodes:
            node.stop()


def nginx_config(directory: Path, ports: list[int], port: int) -> Path:
    site = on_loopback(documented("nginx"), ports)
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
    site = "\n".join(line for line in site.splitlines() if "ssl_certificate" not in line)
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(mode=0o777)
        path.chmod(0o777)  # the workers may run as another user than this process
    config = directory / "nginx.conf"
    config.write_text(
        "daemon off;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\n"
        "events {}\n"
        "http {\n"
        "    access_log off;\n"
        + "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
        + site
        + "}\n"
    )
    return config


def haproxy_config(directory: Path, ports: list[int], port: int) -> Path:
    config = on_loopback(documented("haproxy"), ports)
    config = re.sub(r"bind :443 ssl crt \S+", f"bind 127.0.0.1:{port}", config)
    path = directory / "haproxy.cfg"
    path.write_text(config)
    return path


def run_balancer(check: list[str], run: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    checked = subprocess.run(check, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with log.open("ab") as out:
        process = subprocess.Popen(run, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the balancer never answered: {log.read_text(errors='replace')}")


def nginx(directory: Path, ports: list[int], port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    config = nginx_config(directory, ports, port)
    prefix = ["-p", str(directory), "-c", str(config)]
    return run_balancer([binary, "-t", *prefix], [binary, *prefix], port, directory / "out.log")


def haproxy(directory: Path, ports: list[int], port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    config = str(haproxy_config(directory, ports, port))
    return run_balancer(
        [binary, "-c", "-f", config], [binary, "-db", "-f", config], port, directory / "out.log"
    )


@pytest.mark.parametrize("start", [nginx, haproxy], ids=["nginx", "haproxy"])
async def test_the_documented_balancer_carries_requests_and_websockets(
    start: Callable[[Path, list[int], int], subprocess.Popen[bytes]],
    node_ports: list[int],
    tmp_path: Path,
) -> None:
    port = free_port()
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)  # nginx's workers drop to nobody and must read the config
    process = start(tmp_path, node_ports, port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            alice = await BareDevice().register(http)
            bob = await BareDevice(app="photos").register(http)
            header = bob.authorization("GET", WEBSOCKET, b"")
            ws_url = "ws" + url.removeprefix("http") + WEBSOCKET
            async with websockets.connect(
                ws_url, additional_headers={"authorization": header}
            ) as ws:
                await next_frame(ws, "queue_empty")
                for _ in range(3):  # round robin: the sends land on several nodes
                    body = BareDevice.send_body(bob.address)
                    response = await alice.call(http, "POST", MESSAGES, body)
                    assert response.status_code == 200, response.text
                    envelope = (await next_frame(ws, "envelope"))["envelope"]
                    assert envelope["message_id"] == body["message_id"]
                    await ws.send(json.dumps({"type": "ack", "ids": [envelope["id"]]}))
            assert (await http.get("/metrics")).status_code == 404  # not public
    finally:
        process.terminate()
        process.wait(10)
