"""What the real server process keeps across restarts and crashes, and what its log omits."""

from __future__ import annotations

import base64
import json
import re
import sqlite3

import httpx
import websockets

from tests.support.device import CLAIM, MESSAGES, PREKEYS, WEBSOCKET, BareDevice
from tests.support.live_server import LiveServer

CIPHERTEXT = b"\x17durable ciphertext the relay cannot read"


async def test_queued_messages_and_prekeys_survive_restart_and_crash(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        alice = await BareDevice().register(http)
        bob = await BareDevice().register(http)
        await bob.call(http, "PUT", PREKEYS, bob.prekeys(one_time=2, kem_one_time=2))
        first = BareDevice.send_body(bob.address, body=CIPHERTEXT)
        assert (await alice.call(http, "POST", MESSAGES, first)).status_code == 200

    live_server.stop()
    live_server.start()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        second = BareDevice.send_body(bob.address, body=CIPHERTEXT)
        assert (await alice.call(http, "POST", MESSAGES, second)).status_code == 200

    # SIGKILL right after the answer: success means committed, so nothing is lost.
    live_server.kill()
    live_server.start()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        page = (await bob.call(http, "GET", MESSAGES)).json()
        assert [m["message_id"] for m in page["messages"]] == [
            first["message_id"],
            second["message_id"],
        ]
        assert {base64.b64decode(m["body"]) for m in page["messages"]} == {CIPHERTEXT}
        # A retry of a message sent before the crash is still recognised.
        retry = await alice.call(http, "POST", MESSAGES, second)
        assert retry.json()["duplicate"] is True
        status = (await bob.call(http, "GET", PREKEYS)).json()
        assert (status["one_time_prekeys"], status["kem_one_time_prekeys"]) == (2, 2)


async def test_the_log_holds_no_content_addresses_or_requests(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        alice = await BareDevice().register(http)
        bob = await BareDevice().register(http)
        await bob.call(http, "PUT", PREKEYS, bob.prekeys(one_time=1, kem_one_time=1))
        await alice.call(http, "POST", CLAIM, {"address": bob.address})
        send = BareDevice.send_body(bob.address, body=CIPHERTEXT)
        await alice.call(http, "POST", MESSAGES, send)
        await bob.call(http, "GET", f"{MESSAGES}?limit=7")
        await alice.call(http, "POST", MESSAGES, {"message_id": "x", "recipient": bob.address})
        ws_header = {"authorization": bob.authorization("GET", WEBSOCKET, b"")}
        ws_url = "ws" + live_server.url.removeprefix("http") + WEBSOCKET
        async with websockets.connect(ws_url, additional_headers=ws_header) as ws:
            assert json.loads(await ws.recv())["type"] == "envelope"
    live_server.stop()

    log = live_server.log_text()
    assert "Uvicorn running" in log  # the log was captured at all
    for secret in [
        base64.b64encode(CIPHERTEXT).decode(),
        alice.handle,
        bob.handle,
        send["message_id"],
        "limit=7",
        "Sottovoce-Signature",
    ]:
        assert secret not in log
    # No client address (uvicorn prints "IP:PORT - request line" for each one).
    assert not re.search(r"127\.0\.0\.1:\d+ -", log)
    with sqlite3.connect(live_server.db_path) as db:
        (bodies,) = db.execute("SELECT count(*) FROM queued_messages").fetchone()
    assert bodies == 1
