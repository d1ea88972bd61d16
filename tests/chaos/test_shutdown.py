"""Graceful shutdown: SIGTERM tells live connections to go elsewhere, at once,
and keeps what they had not acknowledged queued for the next connection."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import websockets

from sottovoce.server.process import ServerProcess
from tests.support.device import MESSAGES, WEBSOCKET, BareDevice

# RFC 6455 §7.4.1 as extended by the IANA registry: 1012, service restart.
SERVICE_RESTART = 1012


async def test_sigterm_closes_websockets_with_service_restart_and_keeps_the_queue(
    tmp_path: Path,
) -> None:
    node = ServerProcess(tmp_path / "node")
    node.directory.mkdir()
    node.start()
    try:
        async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
            alice = await BareDevice().register(http)
            bob = await BareDevice(app="photos").register(http)
            body = BareDevice.send_body(bob.address)
            assert (await alice.call(http, "POST", MESSAGES, body)).status_code == 200
        header = bob.authorization("GET", WEBSOCKET, b"")
        url = "ws" + node.url.removeprefix("http") + WEBSOCKET
        async with websockets.connect(url, additional_headers={"authorization": header}) as ws:
            frame = json.loads(await ws.recv())
            assert frame["envelope"]["message_id"] == body["message_id"]  # not acknowledged
            assert node._process is not None
            node._process.terminate()
            try:
                # Closed by the server inside its grace period, not at its end.
                await asyncio.wait_for(ws.wait_closed(), 5)
            finally:
                await asyncio.to_thread(node._process.wait, 15)
            assert ws.close_code == SERVICE_RESTART
        node._process = None
        node.start()
        async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
            page = (await bob.call(http, "GET", MESSAGES)).json()
        assert [m["message_id"] for m in page["messages"]] == [body["message_id"]]
    finally:
        node.stop()
