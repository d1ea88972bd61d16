"""A connection's sends are stored in the order their frames came, whatever each
one's checks await (``routes.websocket._Submissions``): a later send whose checks
finish first waits, ready, until every earlier one was stored or refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sottovoce.server.delivery_keys import load as load_delivery_keys
from sottovoce.server.routes import websocket
from sottovoce.server.state import RateLimiter
from sottovoce.storage.repository import DeviceRecord
from tests.server.conftest import Relay
from tests.support.device import MESSAGES, BareDevice
from tests.support.waiting import eventually


class RecordingSocket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send_text(self, text: str) -> None:
        self.frames.append(json.loads(text))


class HeldFirst:
    """``RateLimiter.admit`` that holds the first call until ``release`` is set."""

    def __init__(self, admit: Any) -> None:
        self._admit = admit
        self.release = asyncio.Event()
        self.calls = 0

    async def __call__(self, key: int) -> bool:
        self.calls += 1
        if self.calls == 1:
            await self.release.wait()
        result: bool = await self._admit(key)
        return result


async def record_of(relay: Relay, device: BareDevice) -> DeviceRecord:
    handle, _, app = device.address.partition("@")
    record = await relay.state.repo.device(app, handle, 1)
    assert record is not None
    return record


async def queued(relay: Relay, device: BareDevice) -> list[str]:
    page = (await device.call(relay.http, "GET", MESSAGES)).json()
    return [m["message_id"] for m in page["messages"]]


@pytest.mark.parametrize("first_refused", [False, True])
async def test_a_later_send_ready_first_waits_for_the_earlier_one(
    relay: Relay, monkeypatch: pytest.MonkeyPatch, first_refused: bool
) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    sender = await record_of(relay, alice)
    held = HeldFirst(relay.state.rate.admit)
    monkeypatch.setattr(RateLimiter, "admit", lambda _, key: held(key))
    socket = RecordingSocket()
    connection = websocket._Connection(socket, relay.state.repo)  # type: ignore[arg-type]
    connection.keys = await load_delivery_keys(relay.state.repo)  # read once, up front
    first = BareDevice.send_body(bob.address, device_ids=(2,) if first_refused else (1,))
    later = [BareDevice.send_body(bob.address) for _ in range(2)]
    slots = [connection.submissions.slot() for _ in range(3)]
    tasks = [
        asyncio.create_task(
            websocket._send(
                relay.state,
                sender,
                connection,
                {"type": "send", "request_id": i, "message": body},
                slot,
            )
        )
        for i, (body, slot) in enumerate(zip([first, *later], slots, strict=True))
    ]
    # The later two passed their checks and wait, ready; nothing is stored yet.
    await eventually(lambda: slots[1].ready and slots[2].ready)
    assert not slots[0].ready
    assert await queued(relay, bob) == []
    assert socket.frames == []
    held.release.set()
    await asyncio.gather(*tasks)
    answers = {f["request_id"]: f for f in socket.frames}
    assert answers[0]["type"] == ("problem" if first_refused else "sent")
    assert answers[1]["type"] == answers[2]["type"] == "sent"
    stored = [b["message_id"] for b in ([] if first_refused else [first]) + later]
    assert await queued(relay, bob) == stored
