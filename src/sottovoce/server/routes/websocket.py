"""Live delivery: a device's WebSocket streams its queue and takes acknowledgements.

The queue is the truth; the socket is a view of it. On connect the device gets its
backlog, then ``queue_empty``, then each new message as the fan-out wakes this task.
Nothing leaves the queue until the device acknowledges it, so a dropped connection
or a crashed node loses nothing: the next connection resends what was not acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from sottovoce.server import limits, metrics
from sottovoce.server.auth import authenticate, today
from sottovoce.server.problems import Problem, problem_response
from sottovoce.server.routes.key_packages import key_packages_low
from sottovoce.server.routes.messages import delivered, prekeys_low
from sottovoce.server.state import ServerState
from sottovoce.storage.repository import DeviceRecord

# RFC 6455 §7.4.1: the endpoint received a message that violates its policy.
POLICY_VIOLATION = 1008
# RFC 6455 §7.4.2 leaves 4000-4999 to applications: 4000 + the HTTP status, so a
# socket whose account was suspended closes with the 403 that refuses its upgrade.
ACCOUNT_SUSPENDED = 4403
SUSPENDED_REASON = "account-suspended"

log = logging.getLogger("sottovoce.server.websocket")
router = APIRouter()


@router.websocket("/v1/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.sottovoce
    path = websocket.url.path + ("?" + websocket.url.query if websocket.url.query else "")
    try:
        auth = await authenticate(
            state.repo,
            state.nonces,
            websocket.headers.get("authorization"),
            "GET",
            path,
            b"",
        )
        if not await state.rate.admit(auth.device.pk):
            raise Problem(429, "rate-limited", "too many requests from this device; slow down")
        await state.safety.refuse_if_suspended(auth.device)
    except Problem as exc:
        await _refuse(websocket, exc)
        return
    device = auth.device
    await websocket.accept()
    await state.record_connection(device.pk, today())
    window = _Window()
    reader = asyncio.create_task(_read_acks(websocket, state, device, window))
    writer = asyncio.create_task(_stream_queue(websocket, state, device, window))
    metrics.CONNECTIONS.inc()
    try:
        done, pending = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        metrics.CONNECTIONS.dec()
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task
    for task in done:
        failure = task.exception()
        if failure is not None and not isinstance(failure, WebSocketDisconnect | RuntimeError):
            log.warning("a websocket task ended with %s", type(failure).__name__)


async def _refuse(websocket: WebSocket, problem: Problem) -> None:
    """Answer a refused upgrade with an HTTP problem document (the ASGI WebSocket
    denial response, which uvicorn supports), so the client sees 401 or 429."""
    await websocket.send_denial_response(
        problem_response(problem.status, problem.kind, problem.detail, problem.extra)
    )


class _Window:
    """What this connection sent and the device has not acknowledged yet.

    The stream resends nothing in it and reads everything else still queued, not
    "everything after the last id sent": on PostgreSQL concurrent sends commit out
    of id order, so a row with a lower id can appear after a higher one was sent.
    At most ``MAX_IN_FLIGHT`` are outstanding; an ack makes room and wakes the stream.
    """

    def __init__(self) -> None:
        self.in_flight: set[int] = set()
        self.wake: asyncio.Event | None = None

    def acknowledged(self, ids: list[int]) -> None:
        full = len(self.in_flight) >= limits.MAX_IN_FLIGHT
        self.in_flight.difference_update(ids)
        if full and self.wake is not None:
            self.wake.set()


async def _stream_queue(
    websocket: WebSocket, state: ServerState, device: DeviceRecord, window: _Window
) -> None:
    announced_empty = False
    low_announced = False
    few_announced = False
    async with state.fanout.subscribe(device.pk) as wake:
        window.wake = wake
        while True:
            wake.clear()
            # Each wake may be a suspension (``abuse.controls``): checked after
            # subscribing, so one announced since the upgrade is not missed.
            if await state.safety.is_suspended(device.account_id):
                await websocket.close(code=ACCOUNT_SUSPENDED, reason=SUSPENDED_REASON)
                return
            room = min(limits.MAX_FETCH, limits.MAX_IN_FLIGHT - len(window.in_flight))
            batch = await state.repo.fetch_unsent(device.pk, room, window.in_flight) if room else []
            for message in batch:
                await websocket.send_text(
                    json.dumps({"type": "envelope", "envelope": delivered(message).model_dump()})
                )
                window.in_flight.add(message.id)
            metrics.delivered(batch)
            if not room or len(batch) == room:
                if room:
                    continue
                await wake.wait()  # the window is full until acks arrive
                continue
            if not announced_empty:
                await websocket.send_text('{"type": "queue_empty"}')
                announced_empty = True
            if not batch:
                low = await prekeys_low(state, device.pk)
                if low and not low_announced:
                    await websocket.send_text('{"type": "prekeys_low"}')
                low_announced = low
                few = await key_packages_low(state, device.pk, in_use=True)
                if few and not few_announced:
                    await websocket.send_text('{"type": "key_packages_low"}')
                few_announced = few
            with contextlib.suppress(TimeoutError):  # then the standing is read again
                await asyncio.wait_for(wake.wait(), limits.SUSPENSION_RECHECK_S)


async def _read_acks(
    websocket: WebSocket, state: ServerState, device: DeviceRecord, window: _Window
) -> None:
    while True:
        text = await websocket.receive_text()
        if len(text) > limits.MAX_CLIENT_FRAME_BYTES:
            await websocket.close(code=POLICY_VIOLATION, reason="frame too large")
            return
        try:
            frame = json.loads(text)
            ids = frame["ids"] if frame.get("type") == "ack" else None
        except (ValueError, AttributeError, KeyError, TypeError):
            ids = None
        if not isinstance(ids, list) or not all(_is_queue_id(i) for i in ids):
            await websocket.send_text(
                json.dumps({"type": "error", "detail": 'expected {"type": "ack", "ids": [int]}'})
            )
            continue
        metrics.ACKNOWLEDGED.inc(await state.repo.ack(device.pk, ids[: limits.MAX_FETCH]))
        window.acknowledged(ids[: limits.MAX_FETCH])


def _is_queue_id(value: object) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limits.MAX_QUEUE_ID
    )
