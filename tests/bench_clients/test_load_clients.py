"""The load bench's simulated clients (bench/load.py, bench/frame_socket.py) against
the real server: every message arrives once, decrypted, and every envelope is
acknowledged (the acks of one read go in one frame), paced or not, over the
WebSocket or HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.live_server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import load

MESSAGES = 40
WAIT_S = 60.0  # a bound, not a timing: how long before a message counts as lost


async def _queued(pair: load.Pair, url: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        page = (await pair.receiver.call(http, "GET", "/v1/messages?limit=500")).json()
    return len(page["messages"])


@pytest.mark.parametrize(
    ("over", "gap"), [("websocket", None), ("websocket", 0.005), ("http", None)]
)
async def test_each_message_arrives_once_and_is_acknowledged(
    live_server_module: LiveServer, over: str, gap: float | None
) -> None:
    [pair] = await load.make_pairs(1, live_server_module.url)
    receiver = await load.Receiver(pair, MESSAGES).open(live_server_module.url)
    async with load.SendChannel(pair.sender, live_server_module.url, over) as channel:
        sender = load.Sender(pair, channel, MESSAGES, window=8, gap=gap, offset=0.0)
        await asyncio.wait_for(sender.done, WAIT_S)
        await asyncio.wait_for(receiver.done, WAIT_S)
    assert sender.answered == MESSAGES
    assert pair.received == MESSAGES == len(pair.latencies_ms) == len(pair.seen)
    assert pair.repeats_same_connection == pair.repeats_after_reconnect == 0
    await receiver.close()
    # The acks were sent before the close: the server applies them in order.
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while (left := await _queued(pair, live_server_module.url)) and (
        asyncio.get_running_loop().time() < deadline
    ):
        await asyncio.sleep(0.2)
    assert left == 0


async def test_a_refused_send_fails_the_sender(live_server_module: LiveServer) -> None:
    [pair] = await load.make_pairs(1, live_server_module.url)
    pair.recipient_json = '"nobody-such@nowhere"'  # an address the server has no account for
    async with load.SendChannel(pair.sender, live_server_module.url, "websocket") as channel:
        sender = load.Sender(pair, channel, 3, window=2, gap=None, offset=0.0)
        with pytest.raises(RuntimeError, match="send refused"):
            await asyncio.wait_for(sender.done, WAIT_S)


@pytest.mark.parametrize("batches", [True, False])
async def test_the_clients_batch_their_frames_as_the_sdk_does(
    live_server_module: LiveServer, monkeypatch: pytest.MonkeyPatch, batches: bool
) -> None:
    monkeypatch.setattr(load, "BATCHES", batches)
    [pair] = await load.make_pairs(1, live_server_module.url)
    receiver = await load.Receiver(pair, MESSAGES).open(live_server_module.url)
    async with load.SendChannel(pair.sender, live_server_module.url, "websocket") as channel:
        sender = load.Sender(pair, channel, MESSAGES, window=8, gap=None, offset=0.0)
        await asyncio.wait_for(sender.done, WAIT_S)
        await asyncio.wait_for(receiver.done, WAIT_S)
        assert channel.socket is not None and receiver.socket is not None
        sends, answers = channel.socket.messages_sent, channel.socket.messages_received
    assert pair.received == MESSAGES and pair.repeats_same_connection == 0
    await receiver.close()
    if batches:  # a window's sends in one frame, their answers together
        assert sends < MESSAGES and answers < MESSAGES
    else:
        assert sends == MESSAGES and answers > MESSAGES  # and queue_empty


async def test_the_interval_rows_cover_the_phase(
    live_server_module: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert live_server_module._process is not None
    server = psutil.Process(live_server_module._process.pid)
    [pair] = await load.make_pairs(1, live_server_module.url)
    receiver = await load.Receiver(pair, MESSAGES).open(live_server_module.url)
    capsys.readouterr()
    async with load.SendChannel(pair.sender, live_server_module.url, "websocket") as channel:
        sender = load.Sender(pair, channel, MESSAGES, window=8, gap=0.005, offset=0.0)
        intervals = load.Intervals(
            lambda: sum(server.cpu_times()[:2]), [sender], [pair], 0.05, {"phase": "paced"}
        )
        await asyncio.wait_for(sender.done, WAIT_S)
        await asyncio.wait_for(receiver.done, WAIT_S)
        await intervals.stop()
    await receiver.close()
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # 40 sends 5 ms apart: about 0.2 s, so a few rows, the last one up to the end.
    assert len(rows) >= 3
    assert all(r["metric"] == "interval_sent_msgs_per_s" and r["phase"] == "paced" for r in rows)
    sent = [r["sent_so_far"] for r in rows]
    assert sent == sorted(sent) and sent[-1] == MESSAGES
    assert [r["t_s"] for r in rows] == sorted(r["t_s"] for r in rows)
