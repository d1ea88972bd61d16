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

from sottovoce.server import limits
from sottovoce.server.auth import authenticate, today
from sottovoce.server.problems import Problem, problem_response
from sottovoce.server.routes.messages import delivered, prekeys_low
from sottovoce.server.state import ServerState
from sottovoce.storage.repository import DeviceRecord

# RFC 6455 §7.4.1: the endpoint received a message that violates its policy.
POLICY_VIOLATION = 1008

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
        if not state.rate.allow(auth.device.pk):
            raise Problem(429, "rate-limited", "too many requests from this device; slow down")
    except Problem as exc:
        await _refuse(websocket, exc)
        return
    device = auth.device
    await websocket.accept()
    await state.record_connection(device.pk, today())
    reader = asyncio.create_task(_read_acks(websocket, state, device))
    writer = asyncio.create_task(_stream_queue(websocket, state, device))
    done, pending = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
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


async def _stream_queue(websocket: WebSocket, state: ServerState, device: DeviceRecord) -> None:
    sent_up_to = 0
    announced_empty = False
    low_announced = False
    async with state.fanout.subscribe(device.pk) as wake:
        while True:
            wake.clear()
            batch = await state.repo.fetch(device.pk, limits.MAX_FETCH, after_id=sent_up_to)
            for message in batch:
                await websocket.send_text(
                    json.dumps({"type": "envelope", "envelope": delivered(message).model_dump()})
                )
                sent_up_to = message.id
            if len(batch) == limits.MAX_FETCH:
                continue
            if not announced_empty:
                await websocket.send_text('{"type": "queue_empty"}')
                announced_empty = True
            if not batch:
                low = await prekeys_low(state, device.pk)
                if low and not low_announced:
                    await websocket.send_text('{"type": "prekeys_low"}')
                low_announced = low
            await wake.wait()


async def _read_acks(websocket: WebSocket, state: ServerState, device: DeviceRecord) -> None:
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
        await state.repo.ack(device.pk, ids[: limits.MAX_FETCH])


def _is_queue_id(value: object) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limits.MAX_QUEUE_ID
    )
