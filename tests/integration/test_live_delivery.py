"""Live delivery over the WebSocket keeps working across acknowledgements.

Regression: SQLite reused the id of an acknowledged (deleted) newest queue row,
so the stream's "after id N" cursor skipped every message sent after an ack.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sottovoce.client import Client, ReceivedMessage
from tests.support.live_server import LiveServer
from tests.support.waiting import eventually


async def test_listener_receives_every_message_after_acks(
    live_server: LiveServer, tmp_path: Path
) -> None:
    a = await Client.create_account(tmp_path / "a", live_server.url, "chat", "alice")
    b = await Client.create_account(tmp_path / "b", live_server.url, "photos", "bob")
    await a.send("bob@photos", "first")
    assert [m.text for m in await b.fetch()] == ["first"]
    received: list[ReceivedMessage] = []

    async def listen() -> None:
        async for message in a.listen():
            received.append(message)
            if len(received) == 6:
                return

    async def arrived(count: int) -> None:
        await eventually(lambda: len(received) == count)

    await b.send("alice@chat", "waiting")
    listener = asyncio.create_task(listen())
    await arrived(1)  # the backlog came over the WebSocket: it is open, what follows is live
    for i in range(5):
        await b.send("alice@chat", f"live {i}")
        await arrived(i + 2)  # delivered and acknowledged before the next is sent
    await asyncio.wait_for(listener, timeout=15)
    assert [m.text for m in received] == ["waiting"] + [f"live {i}" for i in range(5)]
    assert [m.text for m in await a.fetch()] == []  # all acknowledged, nothing redelivered
    await a.close()
    await b.close()


async def test_listener_reconnects_after_a_server_restart(
    live_server: LiveServer, tmp_path: Path
) -> None:
    a = await Client.create_account(tmp_path / "a", live_server.url, "chat", "alice")
    b = await Client.create_account(tmp_path / "b", live_server.url, "photos", "bob")
    received: list[str] = []

    async def listen() -> None:
        async for message in b.listen():
            received.append(message.text)
            if len(received) == 2:
                return

    listener = asyncio.create_task(listen())
    await a.send("bob@photos", "before the restart")
    await eventually(lambda: received == ["before the restart"])
    live_server.kill()
    live_server.start()
    await a.send("bob@photos", "after the restart")
    await asyncio.wait_for(listener, timeout=30)
    assert received == ["before the restart", "after the restart"]
    await a.close()
    await b.close()
