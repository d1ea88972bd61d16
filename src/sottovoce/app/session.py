"""The profile this app process serves, its unlocked Client and the live feed.

One process serves one profile directory, like a desktop messenger serves one
account. Until the person signs up or signs in (the passphrase unlocks the
encrypted store) there is no Client. Once there is, a background task listens
on the server's WebSocket and publishes every received message to the open
browser tabs (``Feed``), which then re-read what they show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sottovoce.client import Client, ReceivedMessage
from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.errors import ClientError
from sottovoce.client.store_key import PROFILE_FILE
from sottovoce.crypto.password import Argon2Parameters

log = logging.getLogger("sottovoce.app")

# Events a slow tab has not read yet. One that falls further behind has its socket
# closed with FELL_BEHIND (the page reconnects and re-reads everything it shows),
# rather than missing events without knowing it.
FEED_QUEUE = 256
# The WebSocket close code for a tab that fell behind: one of the codes RFC 6455
# §7.4.2 leaves to applications (4000-4999), so the page can tell it from a crash.
FELL_BEHIND = 4001
# How often expired disappearing messages are looked for: the UI removes them
# within this long of their time.
EXPIRY_SWEEP_S = 1.0
# How often the app follows the key-transparency log by itself, besides each
# (re)connection and send: a change to this account's keys or devices that its
# owner did not make is shown within about this long (plus the server's epoch).
# The default of ``sottovoce app --transparency-watch``.
TRANSPARENCY_WATCH_S = 30.0


class NotSignedIn(ClientError):
    def __init__(self) -> None:
        super().__init__("sign in first")


class FellBehind(Exception):
    """The tab's queue overflowed: it missed events, so it must re-read its state."""


class Subscription:
    """One tab's events in order, until it falls ``size`` (:data:`FEED_QUEUE`) events
    behind."""

    def __init__(self, size: int = FEED_QUEUE) -> None:
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(size)
        self._behind = asyncio.Event()

    @property
    def fell_behind(self) -> bool:
        return self._behind.is_set()

    def offer(self, event: dict[str, Any]) -> bool:
        """Queue ``event``; False (and :meth:`next` raises from now on) when full."""
        if self._behind.is_set():
            return False
        try:
            self._queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self._behind.set()
            return False

    async def next(self) -> dict[str, Any]:
        """The next event; :class:`FellBehind` at once once the queue overflowed,
        even with events still queued (the tab re-reads everything anyway)."""
        if self._behind.is_set():
            raise FellBehind()
        getter = asyncio.ensure_future(self._queue.get())
        behind = asyncio.ensure_future(self._behind.wait())
        try:
            await asyncio.wait({getter, behind}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            behind.cancel()
            if not getter.done():
                getter.cancel()
        if self._behind.is_set():
            raise FellBehind()
        return getter.result()


@dataclass
class Feed:
    """Fan-out of events to each open tab's WebSocket."""

    # How many events each tab may fall behind (``sottovoce app --feed-queue``).
    size: int = FEED_QUEUE
    _subscriptions: set[Subscription] = field(default_factory=set)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self.size)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, event: dict[str, Any]) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.offer(event):
                # Its socket is closed with FELL_BEHIND; the tab reconnects and re-reads.
                self._subscriptions.discard(subscription)


def message_event(message: ReceivedMessage) -> dict[str, Any]:
    """What a tab learns of a new message: where it belongs, never its text (the tab
    reads that over the authenticated API, like everything else)."""
    conversation = f"#{message.group}" if message.group is not None else message.sender
    return {"type": "message", "conversation": conversation, "message_id": message.message_id}


class AppSession:
    """The profile directory, and once unlocked its Client and listener."""

    def __init__(
        self,
        profile_dir: Path,
        default_server: str | None,
        *,
        argon2: Argon2Parameters | None = None,
        transparency_watch_s: float = TRANSPARENCY_WATCH_S,
        feed_queue: int = FEED_QUEUE,
    ) -> None:
        self.profile_dir = profile_dir
        self.default_server = default_server
        self.transparency_watch_s = transparency_watch_s
        self.feed = Feed(feed_queue)
        self._argon2 = argon2
        self._client: Client | None = None
        self._listener: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # Uploaded attachments waiting to be sent, by a random id the tab holds.
        self.uploads: dict[str, AttachmentPointer] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def exists(self) -> bool:
        return (self.profile_dir.expanduser() / PROFILE_FILE).exists()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise NotSignedIn()
        return self._client

    @property
    def signed_in(self) -> bool:
        return self._client is not None

    async def sign_up(self, server_url: str, app: str, handle: str, passphrase: str) -> Client:
        if not passphrase:
            raise ClientError("choose a passphrase: it encrypts this device's store")
        async with self._lock:
            if self._client is not None:
                raise ClientError(f"already signed in as {self._client.address}")
            client = await Client.create_account(
                self.profile_dir,
                server_url,
                app,
                handle,
                passphrase=passphrase,
                argon2=self._argon2,
            )
            # On unless the person turns them off, as in Signal.
            client.set_receipts(True)
            client.set_typing_indicators(True)
            self._start(client)
            return client

    async def sign_in(self, passphrase: str) -> Client:
        async with self._lock:
            if self._client is not None:
                return self._client
            client = await Client.open(self.profile_dir, passphrase=passphrase or None)
            self._start(client)
            return client

    async def sign_out(self) -> None:
        async with self._lock:
            await self._stop()

    def _start(self, client: Client) -> None:
        self._client = client
        client.on_update = self.changed
        client.on_typing = self._typing
        client.groups.on_update = self.changed  # a group's receipts, deletions, timer
        client.groups.on_typing = self._group_typing
        self._listener = asyncio.create_task(self._listen(client), name="sottovoce-app-listen")
        self._sweeper = asyncio.create_task(self._sweep(client), name="sottovoce-app-expiry")
        self._watcher = asyncio.create_task(
            self._watch_transparency(client), name="sottovoce-app-transparency"
        )

    async def _watch_transparency(self, client: Client) -> None:
        """Security alerts (``client.alerts``) reach the open tabs as they are raised."""
        shown = len(client.security_alerts())
        while True:
            await asyncio.sleep(self.transparency_watch_s)
            try:
                await client.check_transparency()  # records what it finds as alerts
            except ClientError as exc:
                log.info("following the transparency log failed: %s", exc)
            count = len(client.security_alerts())
            if count > shown:
                self.feed.publish({"type": "alerts"})
            shown = count

    async def _sweep(self, client: Client) -> None:
        """Disappearing messages leave the store, and then every open tab."""
        while True:
            try:
                gone = client.expire_messages()
            except ClientError as exc:
                log.warning("removing expired messages failed: %s", exc)
                gone = []
            for peer in sorted({g.peer for g in gone}):
                group = client.groups.name_of(peer)  # a group's history key: "#name"
                conversation = peer if group is None else f"#{group}"
                self.feed.publish({"type": "expired", "conversation": conversation})
            await asyncio.sleep(EXPIRY_SWEEP_S)

    async def _listen(self, client: Client) -> None:
        """Everything queued, then live messages, for as long as the person is signed in."""
        try:
            for message in await client.fetch():
                self.feed.publish(message_event(message))
        except ClientError as exc:
            log.warning("fetching queued messages failed: %s", exc)
        while True:
            try:
                async for message in client.listen():
                    self.feed.publish(message_event(message))
            except ClientError as exc:
                log.warning("the live connection ended: %s; retrying", exc)
                self.feed.publish({"type": "offline", "detail": str(exc)})
                await asyncio.sleep(5)

    def changed(self, conversation: str) -> None:
        """Something changed ``conversation``: a send, or a receipt for it."""
        self.feed.publish({"type": "changed", "conversation": conversation})

    def _typing(self, peer: str, started: bool) -> None:
        self.feed.publish({"type": "typing", "conversation": peer, "started": started})

    def _group_typing(self, conversation: str, member: str, started: bool) -> None:
        self.feed.publish(
            {"type": "typing", "conversation": conversation, "member": member, "started": started}
        )

    def typing(self, peer: str, started: bool) -> None:
        """Tell ``peer`` in the background; a lost indicator costs nothing."""
        client = self.client

        async def send() -> None:
            try:
                await client.send_typing(peer, started)
            except ClientError as exc:
                log.info("a typing indicator failed: %s", exc)

        task = asyncio.create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def read(self, peer: str, message_ids: list[str]) -> None:
        """Send a read receipt in the background: showing a conversation never waits
        for the network."""
        client = self.client

        async def send() -> None:
            try:
                await client.send_read_receipt(peer, message_ids)
            except ClientError as exc:
                log.info("a read receipt failed: %s", exc)

        task = asyncio.create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop(self) -> None:
        for task in (self._listener, self._sweeper, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._listener = self._sweeper = self._watcher = None
        self.uploads.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def close(self) -> None:
        await self._stop()
