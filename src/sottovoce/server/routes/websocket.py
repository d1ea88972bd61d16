"""Live delivery: a device's WebSocket streams its queue, takes acknowledgements
and sends (``server.sending``, the checks of ``POST /v1/messages``).

The queue is the truth; the socket is a view of it. On connect the device gets its
backlog, then ``queue_empty``, then each new message as the fan-out wakes this task.
Nothing leaves the queue until the device acknowledges it, so a dropped connection
or a crashed node loses nothing: the next connection resends what was not acked.

A client that offers the ``sottovoce.batches`` subprotocol (RFC 6455 §1.9) may
send several frames as one ``batch`` frame and gets the server's frames that are
ready together as one (``server.frame_writer``); each inner frame means what it
would alone, and each send keeps its own answer (docs/api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeGuard

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from sottovoce.fanout.listeners import Wake
from sottovoce.server import limits, metrics
from sottovoce.server.auth import authenticate, today
from sottovoce.server.delivery_keys import DeliveryKeys
from sottovoce.server.delivery_keys import load as load_delivery_keys
from sottovoce.server.encoding import b64encode
from sottovoce.server.frame_writer import FrameWriter
from sottovoce.server.problems import Problem, problem_response
from sottovoce.server.routes.key_packages import key_packages_low
from sottovoce.server.routes.messages import prekeys_low
from sottovoce.server.sending import SendMessage, SendResult, send_message
from sottovoce.server.state import ServerState
from sottovoce.storage import queue_writes
from sottovoce.storage.repository import DeviceRecord, QueuedMessage, Repository
from sottovoce.storage.safety import SUSPENDED

# 1011 in the WebSocket Close Code Number Registry (RFC 6455 §11.7): the server
# met an unexpected condition.
INTERNAL_ERROR = 1011
# RFC 6455 §7.4.2 leaves 4000-4999 to applications: 4000 + the HTTP status, so a
# socket whose account was suspended closes with the 403 that refuses its upgrade.
ACCOUNT_SUSPENDED = 4403
SUSPENDED_REASON = "account-suspended"
# The subprotocol a client offers to take part in ``batch`` frames (docs/api.md).
BATCHES = "sottovoce.batches"

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
        await state.safety.refuse_if_suspended(auth.device, auth.standing)
    except Problem as exc:
        await _refuse(websocket, exc)
        return
    device = auth.device
    batches = BATCHES in websocket.scope.get("subprotocols", ())
    await websocket.accept(subprotocol=BATCHES if batches else None)
    connection = _Connection(websocket, state.repo, batches=batches)
    await connection.record(state, device.pk)
    # One task reads the device's frames, one more streams its queue. The reader is
    # not this task: each frame would resume it through every middleware's frame.
    stream = asyncio.create_task(_stream_queue(state, device, connection))
    reader = asyncio.create_task(_read_frames(state, device, connection))
    metrics.CONNECTIONS.inc()
    try:
        with state.live.register(device.pk, connection):
            await reader
    except (WebSocketDisconnect, RuntimeError):
        pass  # the device went away, or the stream closed the socket
    finally:
        metrics.CONNECTIONS.dec()
        pending = [reader, stream, *connection.sends]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


async def _refuse(websocket: WebSocket, problem: Problem) -> None:
    """Answer a refused upgrade with an HTTP problem document (the ASGI WebSocket
    denial response, which uvicorn supports), so the client sees 401 or 429."""
    await websocket.send_denial_response(
        problem_response(problem.status, problem.kind, problem.detail, problem.extra)
    )


def _envelope_frame(message: QueuedMessage) -> str:
    """``json.dumps({"type": "envelope", "envelope": delivered_fields(message)})``
    written out, as :func:`_sent_frame`: there is one a copy delivered, and
    building the dictionary and encoding it took three times as long, ~5 % of the
    event loop's CPU a message (docs/performance.md, "Load, session 7"). Base64
    and numbers need no escaping; the strings go through ``json.dumps`` itself, so
    any text comes out as it did (tests/server/test_websocket_frames.py)."""
    sealed = message.type == "sealed"
    commitment, tag = message.commitment, message.franking_tag
    return (
        f'{{"type": "envelope", "envelope": {{"id": {message.id}, '
        f'"message_id": {json.dumps(message.message_id)}, '
        f'"sender": {"null" if sealed else json.dumps(message.sender)}, '
        f'"sender_device": {"null" if sealed else message.sender_device}, '
        f'"type": {json.dumps(message.type)}, "body": "{b64encode(message.body)}", '
        f'"server_ts": {message.server_ts}, '
        f'"commitment": {"null" if commitment is None else _quoted_b64(commitment)}, '
        f'"franking_tag": {"null" if tag is None else _quoted_b64(tag)}}}}}'
    )


def _quoted_b64(data: bytes) -> str:
    return f'"{b64encode(data)}"'


class _Connection:
    """One device's socket: what it was sent and has not acknowledged, and its sends.

    The stream resends nothing in ``in_flight`` and reads everything else still
    queued, not "everything after the last id sent": on PostgreSQL concurrent sends
    commit out of id order, so a row with a lower id can appear after a higher one
    was sent. At most ``MAX_IN_FLIGHT`` are outstanding; an ack makes room and wakes
    the stream. While the stream is ``parked`` (it has sent everything it read and
    nothing woke it since), a row this node stores with an id above every one sent
    here is written to it directly (``server.live``); otherwise the offer only
    wakes it, and the queue read that follows finds the row in order, once.

    That direct write is for a node alone (``Fanout.single_node``): with Redis,
    ``LiveConnections.deliver`` only calls :meth:`read_queue`, so :meth:`offer`,
    ``parked`` and ``highest_sent`` never act there, and every row reaches the
    device through a queue read (another node's earlier row could otherwise be
    overtaken).

    Its sends are stored in the order their frames came (:class:`_Submissions`),
    and everything it writes goes through one :class:`FrameWriter`, in order.

    The account's standing is a fact of the connection: read at the upgrade, and
    again by the stream after each fan-out announcement and each recheck (a
    suspension announces itself, ``abuse.controls``). While such a read is due
    and not done, send frames read it themselves (:meth:`standing_unsure`), so
    none is stored after a suspension reached this connection.
    """

    __slots__ = (
        "day",
        "highest_sent",
        "in_flight",
        "keys",
        "parked",
        "sends",
        "standing_read_at",
        "submissions",
        "suspended",
        "wake",
        "websocket",
        "writer",
    )

    def __init__(self, websocket: WebSocket, repo: Repository, *, batches: bool = False) -> None:
        self.websocket = websocket
        # Every frame to the device goes through it, in order (server.frame_writer).
        self.writer = FrameWriter(websocket, batches=batches)
        # The process's (``server.delivery_keys``), looked up at the first send.
        self.keys: DeliveryKeys | None = None
        self.in_flight: set[int] = set()
        self.wake: Wake | None = None
        self.parked = False
        self.highest_sent = 0
        self.sends: set[asyncio.Task[None]] = set()
        self.submissions = _Submissions(repo)
        # When the stream last found the standing good (event-loop time), after
        # subscribing and after the announcement it took; None while a read is due.
        # ``suspended`` once a read found a suspension.
        self.standing_read_at: float | None = None
        self.suspended = False
        # The last day this connection recorded for its device (``record``).
        self.day = -1

    def standing_unsure(self) -> bool:
        """Whether a suspension may have reached this connection and not been read:
        one announced, or one made without an announcement longer ago than the
        recheck (the stream's timer runs only while it is parked; a stream that is
        never idle would otherwise keep an old read)."""
        wake, read_at = self.wake, self.standing_read_at
        return (
            read_at is None
            or wake is None
            or wake.announced
            or asyncio.get_running_loop().time() - read_at >= limits.SUSPENSION_RECHECK_S
        )

    async def record(self, state: ServerState, device_pk: int) -> None:
        """The coarse last-connection day, looked at once per day per connection."""
        day = today()
        if day != self.day:
            await state.record_connection(device_pk, day)
            self.day = day

    def acknowledged(self, ids: list[int]) -> None:
        """Call only once the ack's delete committed: a queue read that starts after
        this cannot see the rows, and one that started before still excluded them.
        Dropped from ``in_flight`` any earlier, a row could be read and sent again on
        this connection (tests/engines/test_delivered_once.py)."""
        full = len(self.in_flight) >= limits.MAX_IN_FLIGHT
        self.in_flight.difference_update(ids)
        if full and self.wake is not None:
            self.wake.set()

    def offer(self, message: QueuedMessage) -> Coroutine[Any, Any, None] | None:
        wake = self.wake
        if wake is None or not self.parked or wake.is_set():
            if wake is not None:
                wake.set()
            return None
        # Not above every id sent here: the stream may have read it already (it
        # commits before this offer), or, on PostgreSQL, rows committing out of
        # id order are in play; either way the queue read sends it exactly once.
        if message.id <= self.highest_sent or len(self.in_flight) >= limits.MAX_IN_FLIGHT:
            wake.set()
            return None
        self.sent(message.id)
        return self._push(message)

    def read_queue(self) -> None:
        if self.wake is not None:
            self.wake.set()

    def sent(self, queue_id: int) -> None:
        self.in_flight.add(queue_id)
        self.highest_sent = max(self.highest_sent, queue_id)

    async def _push(self, message: QueuedMessage) -> None:
        metrics.delivered([message])
        try:
            await self.writer.write(_envelope_frame(message))
        except (WebSocketDisconnect, RuntimeError):
            return  # the socket is closing; the next connection sends the row again


class _Submissions:
    """A connection's sends in the order they came, handed to the queue of writes
    in that order (``sending.Enqueuing``).

    Each send frame takes a slot as it is read, and its checks run concurrently
    with the others'. A slot is ready once its checks are done, with copies to
    store or none (refused, or a retry answered without storing). The ready
    prefix goes to the storage in one call (``Repository.enqueue_each``: together,
    in that order), and the next prefix only once that one is stored; sends that
    became ready meanwhile go together then. So the frames' copies get their queue
    ids, and are delivered, in the order the frames came, whatever each send's
    checks await: the order is the queue's, not the tasks' timing.
    """

    __slots__ = ("_repo", "_slots", "_storer")

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self._slots: deque[_Slot] = deque()
        # The task storing the ready prefixes, one after another, while any are.
        self._storer: asyncio.Task[None] | None = None

    def slot(self) -> _Slot:
        """The next send's place, taken as its frame is read."""
        slot = _Slot(self)
        self._slots.append(slot)
        return slot

    def ready(self) -> None:
        if self._storer is None and self._slots and self._slots[0].ready:
            self._storer = asyncio.create_task(self._store())

    def _ready_prefix(self) -> list[_Slot]:
        prefix = []
        while self._slots and self._slots[0].ready:
            slot = self._slots.popleft()
            if slot.waiting:  # not refused, nor given up with its connection
                prefix.append(slot)
        return prefix

    async def _store(self) -> None:
        try:
            while prefix := self._ready_prefix():
                requests = [slot.request for slot in prefix if slot.request is not None]
                try:
                    outcomes = await self._repo.enqueue_each(requests)
                except Exception as exc:  # the round failed as a whole
                    outcomes = [exc] * len(prefix)
                for slot, outcome in zip(prefix, outcomes, strict=True):
                    slot.answer(outcome)
        finally:
            self._storer = None


class _Slot:
    """One send's place in its connection's :class:`_Submissions`."""

    __slots__ = ("_stored", "_submissions", "ready", "request")

    def __init__(self, submissions: _Submissions) -> None:
        self._submissions = submissions
        self.ready = False
        self.request: queue_writes.Enqueue | None = None
        self._stored: asyncio.Future[list[QueuedMessage] | None] | None = None

    async def enqueue(self, request: queue_writes.Enqueue) -> list[QueuedMessage] | None:
        """``sending.Enqueuing``: store once every earlier send was stored or refused."""
        self.request = request
        stored: asyncio.Future[list[QueuedMessage] | None]
        stored = self._stored = asyncio.get_running_loop().create_future()
        self.ready = True
        self._submissions.ready()
        return await stored

    @property
    def waiting(self) -> bool:
        """Copies to store, and the send still waits for them to be."""
        return self.request is not None and self._stored is not None and not self._stored.done()

    def finish(self) -> None:
        """The send is done: refused, or answered without storing, or stored."""
        if not self.ready:
            self.ready = True
            self._submissions.ready()

    def answer(self, outcome: list[QueuedMessage] | Exception | None) -> None:
        stored = self._stored
        if stored is None or stored.done():
            return  # the send's task was cancelled: the connection closed
        if isinstance(outcome, Exception):
            stored.set_exception(outcome)
        else:
            stored.set_result(outcome)


async def _stream_queue(state: ServerState, device: DeviceRecord, connection: _Connection) -> None:
    """The queue, then live rows; a failure closes the socket (1011), so the device
    reconnects rather than holding a connection that no longer delivers."""
    try:
        await _stream(state, device, connection)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the device went away
    except Exception as exc:  # a failed queue read (the database went away)
        log.warning("a websocket stream ended with %s", type(exc).__name__)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await connection.websocket.close(code=INTERNAL_ERROR)


async def _stream(state: ServerState, device: DeviceRecord, connection: _Connection) -> None:
    websocket, writer = connection.websocket, connection.writer
    announced_empty = False
    low_announced = False
    few_announced = False
    # Prekey and KeyPackage counts fall by claims, which the fan-out announces:
    # read at the first empty queue and again after each announcement.
    lows_unread = True
    loop = asyncio.get_running_loop()
    async with state.fanout.subscribe(device.pk) as wake:
        connection.wake = wake
        while True:
            connection.parked = False
            announced, wake.announced = wake.announced, False
            wake.clear()
            lows_unread = lows_unread or announced
            # An announcement or the recheck may be a suspension (``abuse.controls``);
            # the first read comes after subscribing, so one made since the upgrade
            # is not missed. This node's own pushes and acks cannot be one.
            if announced or connection.standing_read_at is None:
                connection.standing_read_at = None
                if await state.safety.is_suspended(device.account_id):
                    connection.suspended = True
                    await websocket.close(code=ACCOUNT_SUSPENDED, reason=SUSPENDED_REASON)
                    return
                connection.standing_read_at = loop.time()
            in_flight = connection.in_flight
            room = min(limits.MAX_FETCH, limits.MAX_IN_FLIGHT - len(in_flight))
            batch = []
            if room:
                with metrics.QUEUE_READ_SECONDS.time():
                    batch = await state.repo.fetch_unsent(device.pk, room, in_flight)
            sent = []
            for message in batch:
                if message.id in in_flight:
                    continue  # pushed while the queue was being read
                connection.sent(message.id)
                writer.queue(_envelope_frame(message))
                sent.append(message)
            metrics.delivered(sent)
            if not room or len(batch) == room:
                if room:
                    await writer.flush()
                    continue
                await wake.wait()  # the window is full until acks arrive
                continue
            if not announced_empty:
                writer.queue('{"type": "queue_empty"}')
                announced_empty = True
            await writer.flush()
            if not batch and lows_unread:
                lows_unread = False
                low = await prekeys_low(state, device.pk)
                if low and not low_announced:
                    writer.queue('{"type": "prekeys_low"}')
                low_announced = low
                few = await key_packages_low(state, device.pk, in_use=True)
                if few and not few_announced:
                    writer.queue('{"type": "key_packages_low"}')
                few_announced = few
                await writer.flush()
            connection.parked = True
            # Woken by the fan-out, an ack that makes room, or the timer, after
            # which the standing is read again (no task of its own for the wait).
            recheck = loop.call_later(limits.SUSPENSION_RECHECK_S, wake.announce)
            try:
                await wake.wait()
            finally:
                recheck.cancel()


async def _read_frames(state: ServerState, device: DeviceRecord, connection: _Connection) -> None:
    """Acks, applied before the next frame is read, and sends, run concurrently
    (at most ``MAX_PIPELINED_SENDS``) but stored in the order they came. A
    ``batch`` frame's frames are taken one after another, as if they came alone."""
    websocket, writer = connection.websocket, connection.writer
    room = asyncio.Semaphore(limits.MAX_PIPELINED_SENDS)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await writer.write(_error_frame("frames are JSON text"))
            continue
        if len(text) > limits.MAX_CLIENT_FRAME_BYTES:
            await writer.write(
                _problem_frame(
                    None,
                    413,
                    "frame-too-large",
                    f"a frame carries at most {limits.MAX_CLIENT_FRAME_BYTES} bytes",
                )
            )
            continue
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or frame.get("type") != "batch":
            await _take(state, device, connection, room, frame)
            continue
        frames = frame.get("frames")
        if not isinstance(frames, list) or not frames:
            await writer.write(_error_frame(BATCH_SHAPE))
        elif len(frames) > limits.MAX_FRAMES_PER_BATCH:
            await _refuse_batch(writer, frames)
        else:
            for inner in frames:
                await _take(state, device, connection, room, inner, in_batch=True)


async def _take(
    state: ServerState,
    device: DeviceRecord,
    connection: _Connection,
    room: asyncio.Semaphore,
    frame: object,
    *,
    in_batch: bool = False,
) -> None:
    """One frame from the device: a send starts its task, an ack is applied."""
    kind = frame.get("type") if isinstance(frame, dict) else None
    if kind == "send":
        assert isinstance(frame, dict)
        await room.acquire()
        slot = connection.submissions.slot()
        task = asyncio.create_task(_send(state, device, connection, frame, slot))
        connection.sends.add(task)
        task.add_done_callback(connection.sends.discard)
        task.add_done_callback(lambda _: room.release())
        return
    ids = frame.get("ids") if kind == "ack" and isinstance(frame, dict) else None
    if not isinstance(ids, list) or not all(_is_queue_id(i) for i in ids):
        shapes = BATCH_FRAME_SHAPES if in_batch else FRAME_SHAPES
        await connection.writer.write(_error_frame(shapes))
        return
    metrics.ACKNOWLEDGED.inc(await state.repo.ack(device.pk, ids[: limits.MAX_FETCH]))
    connection.acknowledged(ids[: limits.MAX_FETCH])


async def _refuse_batch(writer: FrameWriter, frames: list[Any]) -> None:
    """A batch over ``MAX_FRAMES_PER_BATCH``: nothing in it is taken, and each send
    in it with a usable request id gets the refusal under that id (one with
    ``request_id: null`` if none has one), so no send waits for an answer."""
    detail = f"a batch carries at most {limits.MAX_FRAMES_PER_BATCH} frames"
    request_ids = [
        f.get("request_id")
        for f in frames
        if isinstance(f, dict) and f.get("type") == "send" and _is_request_id(f.get("request_id"))
    ]
    for request_id in request_ids or [None]:
        writer.queue(_problem_frame(request_id, 413, "batch-too-large", detail))
    await writer.flush()


async def _send(
    state: ServerState,
    device: DeviceRecord,
    connection: _Connection,
    frame: dict[str, Any],
    slot: _Slot,
) -> None:
    """One send frame, checked like ``POST /v1/messages`` (``server.sending``),
    stored in its place (``slot``) and answered with ``sent`` or ``problem`` under
    its ``request_id``."""
    request_id = frame.get("request_id")
    try:
        if not _is_request_id(request_id):
            request_id = None
            raise Problem(400, "malformed-frame", "request_id must be an integer of 0..2^53-1")
        if not await state.rate.admit(device.pk):
            raise Problem(429, "rate-limited", "too many requests from this device; slow down")
        await connection.record(state, device.pk)
        if connection.suspended:
            await state.safety.refuse_if_suspended(device, SUSPENDED)
        elif connection.standing_unsure():
            await state.safety.refuse_if_suspended(device)
        try:
            body = SendMessage.model_validate(frame.get("message"))
        except ValidationError as exc:
            raise Problem(422, "malformed-body", _validation_detail(exc)) from exc
        keys = connection.keys
        if keys is None:
            keys = connection.keys = await load_delivery_keys(state.repo)
        result = await send_message(state, keys, device, body, enqueue=slot.enqueue)
        answer = _sent_frame(request_id, result)
    except Problem as exc:
        answer = _problem_frame(request_id, exc.status, exc.kind, exc.detail, exc.extra)
    except Exception:  # a bug, not bad input: answered like the HTTP route's 500
        log.exception("a send frame failed")
        answer = _problem_frame(
            request_id, 500, "internal-error", "the server failed to handle this frame"
        )
    finally:
        slot.finish()
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the device went away
        await connection.writer.write(answer)


FRAME_SHAPES = (
    'expected {"type": "ack", "ids": [int]}, {"type": "send", "request_id": int, ...}'
    ' or {"type": "batch", "frames": [...]}'
)
BATCH_FRAME_SHAPES = (
    'a batch carries {"type": "ack", "ids": [int]} and {"type": "send", "request_id": int, ...}'
)
BATCH_SHAPE = (
    f'expected {{"type": "batch", "frames": [...]}} with 1..{limits.MAX_FRAMES_PER_BATCH} frames'
)
# A request id is the client's to choose; any JSON number a client can round-trip.
MAX_REQUEST_ID = 2**53 - 1


def _sent_frame(request_id: int, result: SendResult) -> str:
    """``json.dumps({"type": "sent", "request_id": …, "result": …})`` with ``result``
    as ``SendResult``'s fields in their order, written out: a message id is of
    ``sending.MESSAGE_ID``'s characters, none of which JSON escapes."""
    duplicate = "true" if result.duplicate else "false"
    return (
        f'{{"type": "sent", "request_id": {request_id}, "result": {{"message_id": '
        f'"{result.message_id}", "stored": {result.stored}, "duplicate": {duplicate}}}}}'
    )


def _error_frame(detail: str) -> str:
    return json.dumps({"type": "error", "detail": detail})


def _problem_frame(
    request_id: int | None, status: int, kind: str, detail: str, extra: dict[str, Any] | None = None
) -> str:
    frame = {"type": "problem", "request_id": request_id, "status": status, "kind": kind}
    frame["detail"] = detail
    frame.update(extra or {})
    return json.dumps(frame)


def _validation_detail(exc: ValidationError) -> str:
    """The same sentence ``problems.handle_validation`` gives the HTTP route."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where or 'message'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _is_request_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REQUEST_ID


def _is_queue_id(value: object) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limits.MAX_QUEUE_ID
    )
