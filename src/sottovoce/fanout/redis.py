"""Wake-ups across server nodes through Redis pub/sub (:class:`Fanout`).

Each device has a channel; a node subscribes to the channels of the devices
connected to it, and a send on any node publishes "device N's queue grew" there.
The message carries nothing but the device's row id: the recipient's node reads
the durable queue itself, so Redis never holds content and losing a wake-up
loses no message. A node's own connections hear its publications through its
own subscription, once; but a row a node just stored it hands to its own
connections itself (``server.live``), so that wake-up goes out marked with the
node's origin tag, and the node's own reader drops it (a wake of its own
connections would cost each a queue read and more, docs/performance.md). The
other nodes' connections only read their queue on it; an empty payload
(:meth:`RedisFanout.publish`: a suspension, a claimed prekey) also makes them
re-read the facts they hold about their device.

When Redis is unreachable, every local connection is woken every
``poll_interval_s`` (delivery falls back to polling the queue) until the node
reconnects, re-subscribes and wakes everyone once more to catch up; meanwhile a
send wakes this node's own connections directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from sottovoce.fanout.listeners import LocalListeners, Wake

CHANNEL_PREFIX = "sv:wake:"
# A node with no connected device still holds one subscription, so the reader
# notices a lost connection at once instead of at the next device's subscribe.
NODE_CHANNEL = "sv:nodes"
# How often connections are woken to re-read their queue while Redis is down: the
# delivery latency of cross-node messages in that state.
POLL_INTERVAL_S = 0.5
# Between reconnection attempts to Redis.
RECONNECT_DELAY_S = 0.5
# How long a new connection waits for Redis to confirm its subscription before
# reading its queue: a send published before the confirmation would not wake it.
SUBSCRIBE_CONFIRM_S = 1.0
# While a cancelled reader has not ended, it is cancelled again this often.
CANCEL_RETRY_S = 0.1
# Random per node process: long enough that two nodes never draw the same.
ORIGIN_TAG_BYTES = 16
_REDIS_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)

log = logging.getLogger("sottovoce.fanout.redis")


def channel(device_pk: int) -> str:
    return f"{CHANNEL_PREFIX}{device_pk}"


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` until it ends. On Python 3.11, ``asyncio.wait_for`` (redis-py
    wraps its socket writes in it) drops a cancellation that arrives as the awaited
    write completes (CPython gh-86296): the reader then goes on to wait for
    messages forever, and the node's shutdown with it."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_RETRY_S)
    if not task.cancelled():
        task.result()  # a reader that failed otherwise says so


class _Wakeups:
    """The wake-ups of concurrent sends, published together.

    A round of stored sends (storage.queue_writes) hands its rows to the live
    connections one send at a time (``server.live``), each send then publishing
    its recipients' wake-ups: one Redis round trip a message. Here the devices
    named while a publication is on its way wait for the next one, which carries
    them all in one pipeline; each caller returns once its devices went out, as
    it did alone. There is no timer: a lone send publishes at once.
    """

    def __init__(self, publish: Callable[[Collection[int]], Awaitable[None]]) -> None:
        self._publish = publish
        self._devices: set[int] = set()
        self._waiting: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    async def wake(self, device_pks: Collection[int]) -> None:
        self._devices.update(device_pks)
        # One future a caller: a caller that gives up cancels only its own.
        published = asyncio.get_running_loop().create_future()
        self._waiting.append(published)
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        await published

    async def close(self) -> None:
        """Stop a publication on its way; its callers return."""
        if self._task is not None:
            await _cancelled(self._task)

    async def _drain(self) -> None:
        try:
            while self._devices:
                devices, self._devices = self._devices, set()
                waiting, self._waiting = self._waiting, []
                try:
                    await self._publish(devices)
                finally:
                    for published in waiting:
                        if not published.done():
                            published.set_result(None)
        finally:
            self._task = None
            for published in self._waiting:  # only when the node is closing
                if not published.done():
                    published.set_result(None)
            self._waiting.clear()
            self._devices.clear()


class RedisFanout:
    """One pub/sub connection per node; one ``asyncio.Event`` per local connection."""

    single_node = False

    def __init__(self, client: Redis, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self._redis = client
        self._poll_interval_s = poll_interval_s
        self._listeners = LocalListeners()
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        # The payload of this node's wake-ups for the other nodes only.
        self._origin = secrets.token_bytes(ORIGIN_TAG_BYTES)
        self._wakeups = _Wakeups(self._publish_wakeups)
        self.connected = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        self.connected = False  # publishes from here on wake local connections only
        if self._task is not None:
            await _cancelled(self._task)
        await self._wakeups.close()
        await self._drop_pubsub()

    async def publish(self, device_pk: int) -> None:
        if self.connected:
            try:
                # This node's own subscription wakes its local connections too, so
                # they are not woken twice (each wake is a queue read).
                await self._redis.publish(channel(device_pk), b"")
                return
            except _REDIS_FAILURES as exc:
                # The reader notices a lost Redis too, and owns the reconnection.
                log.warning("redis publish failed (%s); nodes poll until it returns", exc)
        self._listeners.wake(device_pk)  # the other nodes are polling until Redis returns

    async def wake_other_nodes(self, device_pks: Collection[int]) -> None:
        """Published with the other sends' wake-ups due meanwhile, in one round
        trip (:class:`_Wakeups`); while Redis is down the others poll."""
        if self.connected and device_pks:
            await self._wakeups.wake(device_pks)

    async def _publish_wakeups(self, device_pks: Collection[int]) -> None:
        if not self.connected:
            return
        try:
            if len(device_pks) == 1:  # the common case, without a pipeline's upkeep
                (device_pk,) = device_pks
                await self._redis.publish(channel(device_pk), self._origin)
                return
            async with self._redis.pipeline(transaction=False) as pipe:
                for device_pk in device_pks:
                    pipe.publish(channel(device_pk), self._origin)
                await pipe.execute()
        except _REDIS_FAILURES as exc:
            log.warning("redis publish failed (%s); nodes poll until it returns", exc)

    @asynccontextmanager
    async def subscribe(self, device_pk: int) -> AsyncIterator[Wake]:
        event, first = self._listeners.add(device_pk)
        if first:
            await self._subscribe(device_pk)
        try:
            yield event
        finally:
            if self._listeners.remove(device_pk, event):
                await self._send_subscription("unsubscribe", device_pk)

    @property
    def local_devices(self) -> int:
        return len(self._listeners)

    async def _subscribe(self, device_pk: int) -> None:
        """Subscribe and wait for Redis to confirm, so that the queue read which
        follows cannot miss a wake-up published in between."""
        name = channel(device_pk)
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[name] = confirmed
        try:
            await self._send_subscription("subscribe", device_pk)
            if self.connected:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_CONFIRM_S)
        finally:
            self._confirmations.pop(name, None)

    async def _send_subscription(self, command: str, device_pk: int) -> None:
        pubsub = self._pubsub
        if pubsub is None or not self.connected:
            return  # the reader subscribes every local device when it reconnects
        try:
            await getattr(pubsub, command)(channel(device_pk))
        except _REDIS_FAILURES as exc:
            # The reader's connection is the same one: it fails, reconnects and
            # subscribes every local device again.
            log.warning("redis %s failed (%s)", command, exc)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_REDIS_FAILURES, RuntimeError):
                await pubsub.aclose()

    async def _run(self) -> None:
        """Stay subscribed; while disconnected, wake everyone every poll interval."""
        while True:
            try:
                await self._listen()
            except _REDIS_FAILURES as exc:
                if self.connected:
                    log.warning("lost redis (%s); delivery polls the queue until it returns", exc)
            self.connected = False
            await self._drop_pubsub()
            deadline = asyncio.get_running_loop().time() + RECONNECT_DELAY_S
            while asyncio.get_running_loop().time() < deadline:
                self._listeners.wake_all()
                await asyncio.sleep(min(self._poll_interval_s, RECONNECT_DELAY_S))

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        self._pubsub = pubsub
        await pubsub.subscribe(NODE_CHANNEL, *(channel(pk) for pk in self._listeners.devices()))
        if not self.connected:
            log.info("subscribed to redis wake-ups")
        self.connected = True
        # Anything published while this node was not subscribed is in the queue.
        self._listeners.wake_all()
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            name = message["channel"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if message.get("type") == "subscribe":
                confirmed = self._confirmations.get(name)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
                elif name.startswith(CHANNEL_PREFIX):  # subscribed again after a reconnect
                    with contextlib.suppress(ValueError):
                        self._listeners.wake(int(name[len(CHANNEL_PREFIX) :]))
            elif message.get("type") == "message" and name.startswith(CHANNEL_PREFIX):
                origin = message.get("data")
                if origin == self._origin:
                    continue  # this node's own connections have the rows already
                with contextlib.suppress(ValueError):
                    device_pk = int(name[len(CHANNEL_PREFIX) :])
                    if origin:  # another node's rows (wake_other_nodes): a queue read
                        self._listeners.nudge(device_pk)
                    else:  # publish: facts about the device changed
                        self._listeners.wake(device_pk)
