"""What a WebSocket holds as facts of its connection, and when it reads them again
(``routes.websocket._Connection``, docs/server.md "Round trips").

The account's standing is read at the upgrade and again only when the fan-out
announces something (a suspension announces itself) or the recheck timer fires;
the prekey and KeyPackage counts likewise. These tests drive the connection's
send and stream functions in-process, with a socket that records its frames, so
that they can count the reads and place a send frame exactly between an
announcement and the stream taking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sottovoce.fanout.listeners import Wake
from sottovoce.server import limits
from sottovoce.server.abuse.controls import SafetyControls
from sottovoce.server.abuse.moderation import Moderation
from sottovoce.server.routes import websocket
from sottovoce.server.routes.messages import delivered, delivered_fields
from sottovoce.storage.repository import DeviceRecord, QueuedMessage
from sottovoce.storage.safety import SafetyStore
from tests.server.conftest import Relay
from tests.support.device import MESSAGES, BareDevice
from tests.support.waiting import eventually


class RecordingSocket:
    """The two calls the connection makes on its socket, recorded."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None

    async def send_text(self, text: str) -> None:
        self.frames.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = code


class Counted:
    """Counts the calls of a class's or module's async function (patched for the test)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        self.calls = 0
        original = getattr(owner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


async def record_of(relay: Relay, device: BareDevice) -> DeviceRecord:
    handle, _, app = device.address.partition("@")
    record = await relay.state.repo.device(app, handle, 1)
    assert record is not None
    return record


def settled(relay: Relay, socket: RecordingSocket) -> websocket._Connection:
    """A connection whose stream has read the standing and taken every announcement."""
    connection = websocket._Connection(socket, relay.state.repo)  # type: ignore[arg-type]
    connection.wake = Wake()
    connection.standing_read_at = asyncio.get_running_loop().time()
    return connection


async def send_frame(
    relay: Relay, sender: DeviceRecord, connection: websocket._Connection, body: dict[str, Any]
) -> dict[str, Any]:
    frame = {"type": "send", "request_id": 7, "message": body}
    await websocket._send(relay.state, sender, connection, frame, connection.submissions.slot())
    socket = connection.websocket
    assert isinstance(socket, RecordingSocket)
    return socket.frames[-1]


async def suspend_at_the_desk(relay: Relay, address: str) -> None:
    desk = await Moderation.open(relay.state.settings.db_url)  # as `sottovoce moderation` does
    try:
        await desk.act(address, "suspend", "spam")
    finally:
        await desk.close()


async def queued_ids(relay: Relay, device: BareDevice) -> list[str]:
    answer = await device.call(relay.http, "GET", MESSAGES)
    return [m["message_id"] for m in answer.json()["messages"]]


async def test_a_send_frame_on_a_settled_connection_reads_no_standing(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    sender = await record_of(relay, alice)
    # Every standing read for the suspension check goes through this.
    checks = Counted(monkeypatch, SafetyControls, "refuse_if_suspended")
    connection = settled(relay, RecordingSocket())
    for _ in range(3):
        answer = await send_frame(relay, sender, connection, BareDevice.send_body(bob.address))
        assert answer["type"] == "sent"
    assert checks.calls == 0
    # Before the stream's first read (just after the upgrade), a frame reads it.
    fresh = websocket._Connection(RecordingSocket(), relay.state.repo)  # type: ignore[arg-type]
    answer = await send_frame(relay, sender, fresh, BareDevice.send_body(bob.address))
    assert answer["type"] == "sent"
    assert checks.calls == 1


async def test_an_old_standing_read_is_read_again_by_a_send_frame(relay: Relay) -> None:
    """A stream that never parks runs no recheck timer: its frames read the standing
    once the last read is older than the recheck, and see a silent suspension."""
    pest = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    sender = await record_of(relay, pest)
    connection = settled(relay, RecordingSocket())
    await suspend_at_the_desk(relay, pest.address)  # without Redis: nothing announced
    assert connection.standing_read_at is not None
    connection.standing_read_at -= limits.SUSPENSION_RECHECK_S
    answer = await send_frame(relay, sender, connection, BareDevice.send_body(bob.address))
    assert (answer["type"], answer["status"]) == ("problem", 403)
    assert await queued_ids(relay, bob) == []


async def test_a_send_frame_between_a_suspension_and_the_stream_is_refused(relay: Relay) -> None:
    pest = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    sender = await record_of(relay, pest)
    connection = settled(relay, RecordingSocket())
    before = BareDevice.send_body(bob.address)
    assert (await send_frame(relay, sender, connection, before))["type"] == "sent"
    await suspend_at_the_desk(relay, pest.address)
    assert connection.wake is not None
    connection.wake.announce()  # the suspension's wake-up arrived; the stream has not run
    late = BareDevice.send_body(bob.address)
    answer = await send_frame(relay, sender, connection, late)
    assert (answer["type"], answer["status"], answer["kind"]) == (
        "problem",
        403,
        "account-suspended",
    )
    assert await queued_ids(relay, bob) == [before["message_id"]]


async def test_a_send_frame_after_the_stream_read_a_suspension_is_refused(relay: Relay) -> None:
    pest = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    sender = await record_of(relay, pest)
    connection = settled(relay, RecordingSocket())
    connection.suspended = True  # the stream read it and is closing the socket
    answer = await send_frame(relay, sender, connection, BareDevice.send_body(bob.address))
    assert (answer["status"], answer["kind"]) == (403, "account-suspended")
    assert await queued_ids(relay, bob) == []


@pytest.fixture
async def streaming(
    relay: Relay,
) -> AsyncIterator[Callable[[BareDevice], Any]]:
    """Runs a device's stream on a recording socket, registered like an open socket."""
    tasks: list[asyncio.Task[None]] = []
    registrations: list[Any] = []

    async def start(device: BareDevice) -> tuple[websocket._Connection, RecordingSocket]:
        record = await record_of(relay, device)
        socket = RecordingSocket()
        connection = websocket._Connection(socket, relay.state.repo)  # type: ignore[arg-type]
        registration = relay.state.live.register(record.pk, connection)
        registration.__enter__()
        registrations.append(registration)
        tasks.append(asyncio.create_task(websocket._stream(relay.state, record, connection)))
        await parked(connection)
        return connection, socket

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for registration in registrations:
        registration.__exit__(None, None, None)


async def parked(connection: websocket._Connection) -> None:
    for _ in range(500):
        if connection.parked and connection.wake is not None and not connection.wake.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the stream did not park")


async def test_pushed_messages_make_the_stream_read_nothing_and_announcements_do(
    relay: Relay, monkeypatch: pytest.MonkeyPatch, streaming: Callable[[BareDevice], Any]
) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    standing = Counted(monkeypatch, SafetyStore, "standing")
    prekeys = Counted(monkeypatch, websocket, "prekeys_low")
    connection, socket = await streaming(bob)
    assert [f["type"] for f in socket.frames] == ["queue_empty", "prekeys_low"]
    assert (standing.calls, prekeys.calls) == (1, 1)  # after subscribing, once each
    sent = [BareDevice.send_body(bob.address) for _ in range(3)]
    for body in sent:
        answer = await alice.call(relay.http, "POST", MESSAGES, body)
        assert answer.status_code == 200, answer.text
    await parked(connection)
    envelopes = [f["envelope"]["message_id"] for f in socket.frames if f["type"] == "envelope"]
    assert envelopes == [b["message_id"] for b in sent]
    reads = standing.calls  # alice's first contact read her own standing once
    assert prekeys.calls == 1
    # After an announcement (a claim, a suspension...) both are read again. With
    # Redis it comes back through the node's own subscription, a moment later.
    await relay.state.fanout.publish((await record_of(relay, bob)).pk)
    await eventually(lambda: standing.calls > reads)
    await parked(connection)
    assert standing.calls == reads + 1
    assert prekeys.calls == 2
    assert socket.closed is None


async def test_a_suspension_announced_closes_the_stream_with_4403(
    relay: Relay, streaming: Callable[[BareDevice], Any]
) -> None:
    pest = await BareDevice().register(relay.http)
    connection, socket = await streaming(pest)
    await suspend_at_the_desk(relay, pest.address)
    await relay.state.fanout.publish((await record_of(relay, pest)).pk)
    for _ in range(200):
        if socket.closed is not None:
            break
        await asyncio.sleep(0.01)
    assert socket.closed == websocket.ACCOUNT_SUSPENDED
    assert connection.suspended


@pytest.mark.parametrize("sealed", [False, True])
@pytest.mark.parametrize("franked", [False, True])
def test_an_envelope_frame_is_the_models_json_byte_for_byte(sealed: bool, franked: bool) -> None:
    message = QueuedMessage(
        id=41,
        recipient_device_pk=3,
        sender="" if sealed else "alice@chat",
        sender_device=0 if sealed else 2,
        message_id="m-1",
        type="sealed" if sealed else "message",
        body=b"\x00ciphertext\xff",
        server_ts=1_700_000_000_123,
        commitment=b"c" * 32 if franked else None,
        franking_tag=b"t" * 32 if franked else None,
    )
    model = json.dumps({"type": "envelope", "envelope": delivered(message).model_dump()})
    assert websocket._envelope_frame(message) == model
    assert list(delivered_fields(message)) == list(type(delivered(message)).model_fields)
