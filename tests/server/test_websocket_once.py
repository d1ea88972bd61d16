"""A connection's stream sends each queue row once, whatever lands during a read.

The stream takes its in-flight set when a queue read starts and the read sees the
rows committed when its statement runs, later (a pool or round-connection
hand-off in between). A row pushed to the connection in that gap, acknowledged
and dropped from ``in_flight`` before the read returns, would come back in the
read's rows and go out again on the same socket. This drives the real stream
(``routes.websocket``), fan-out, send route and repository of the in-process app
through exactly that interleaving, with the read held at both points; only the
socket is a recording stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import pytest

from sottovoce.server.routes import websocket
from sottovoce.storage.repository import QueuedMessage
from tests.server.conftest import Relay
from tests.support.device import MESSAGES, BareDevice

# Bounds, not timings: how long a step may take before the test calls it stuck.
STEP_TIMEOUT_S = 10.0


class RecordingSocket:
    """The ``WebSocket`` calls the stream and the frame reader make."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.changed = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))
        self.changed.set()

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.incoming.put({"type": "websocket.disconnect", "code": code})

    def envelope_ids(self) -> list[int]:
        return [f["envelope"]["id"] for f in self.sent if f["type"] == "envelope"]


class HeldRead:
    """``fetch_unsent`` that, once armed, stops after taking the in-flight set (as
    the real read does when called) and again after reading the rows."""

    def __init__(self, fetch: Callable[[int, int, Collection[int]], Awaitable[Any]]) -> None:
        self._fetch = fetch
        self.armed = False
        self.started, self.may_read = asyncio.Event(), asyncio.Event()
        self.read, self.may_return = asyncio.Event(), asyncio.Event()

    async def __call__(
        self, device_pk: int, limit: int, in_flight: Collection[int]
    ) -> list[QueuedMessage]:
        if not self.armed:
            return list(await self._fetch(device_pk, limit, in_flight))
        self.armed = False
        excluded = list(in_flight)
        self.started.set()
        await self.may_read.wait()
        rows = list(await self._fetch(device_pk, limit, excluded))
        self.read.set()
        await self.may_return.wait()
        return rows


async def until(condition: Callable[[], bool], socket: RecordingSocket) -> None:
    async def wait() -> None:
        while not condition():
            socket.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(socket.changed.wait(), 0.05)

    await asyncio.wait_for(wait(), STEP_TIMEOUT_S)


async def test_a_row_pushed_and_acked_during_a_queue_read_is_not_sent_again(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = relay.state
    sender = await BareDevice().register(relay.http)
    receiver = await BareDevice(app="photos").register(relay.http)
    device = await state.repo.device(receiver.app, receiver.handle, receiver.device_id)
    assert device is not None
    held = HeldRead(state.repo.fetch_unsent)
    monkeypatch.setattr(state.repo, "fetch_unsent", held)
    socket = RecordingSocket()
    connection = websocket._Connection(socket, state.repo)  # type: ignore[arg-type]
    with state.live.register(device.pk, connection):
        tasks = [
            asyncio.create_task(websocket._stream_queue(state, device, connection)),
            asyncio.create_task(websocket._read_frames(state, device, connection)),
        ]
        try:
            await until(lambda: connection.parked, socket)  # backlog read: queue_empty
            held.armed = True
            await state.fanout.publish(device.pk)  # a wake: the stream reads its queue
            await asyncio.wait_for(held.started.wait(), STEP_TIMEOUT_S)
            # Stored (and offered to this connection) after the read took in_flight.
            body = BareDevice.send_body(receiver.address)
            response = await sender.call(relay.http, "POST", MESSAGES, body)
            assert response.status_code == 200, response.text
            held.may_read.set()
            await asyncio.wait_for(held.read.wait(), STEP_TIMEOUT_S)
            # Whatever the device got so far it acknowledges, and the ack commits,
            # before the read's rows come back.
            got = socket.envelope_ids()
            frame = json.dumps({"type": "ack", "ids": got})
            await socket.incoming.put({"type": "websocket.receive", "text": frame})
            await until(lambda: not set(got) & connection.in_flight, socket)
            held.may_return.set()
            await until(lambda: bool(socket.envelope_ids()), socket)
            await until(lambda: connection.parked and not connection.wake.is_set(), socket)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    envelopes = [f["envelope"] for f in socket.sent if f["type"] == "envelope"]
    assert [e["message_id"] for e in envelopes] == [body["message_id"]], "sent twice"
