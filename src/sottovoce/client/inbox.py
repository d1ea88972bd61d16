"""Taking this device's queue in: pages over HTTP (``fetch``) or the live WebSocket
(``listen``), each envelope through ``client.incoming``, acknowledged after commit.

The server deletes an envelope only when it is acknowledged, and only what
``Incoming`` committed is acknowledged, so a crash or a lost connection at any
point loses nothing and shows nothing twice (docs/client.md, "Receiving"). Before
taking messages in, and after each page or batch, the ``Client`` does its own
part (``before`` and ``after``: following the log and the account's devices,
the outbox, delivery receipts, gossip).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from websockets.exceptions import ConnectionClosed

from sottovoce.client import server_json as sj
from sottovoce.client.backoff import Backoff
from sottovoce.client.errors import ClientError, MalformedResponse, NetworkError, ServerError
from sottovoce.client.incoming import Incoming
from sottovoce.client.key_package_supply import KeyPackageSupply
from sottovoce.client.live_connection import LiveConnection
from sottovoce.client.messages import ReceivedMessage
from sottovoce.client.prekey_supply import PreKeySupply
from sottovoce.client.transport import Transport

log = logging.getLogger("sottovoce.client")

# Messages per GET /v1/messages: a page decrypts in well under a second and its
# acknowledgement fits one small request.
FETCH_PAGE = 100
# Queue ids one WebSocket ack frame carries at most (the server's limits.MAX_FETCH).
ACK_IDS_PER_FRAME = 500

Step = Callable[[], Awaitable[None]]


class Inbox:
    """Fetches or streams this device's queue (``Client.fetch``, ``Client.listen``)."""

    def __init__(
        self,
        transport: Transport,
        incoming: Incoming,
        prekeys: PreKeySupply,
        key_packages: KeyPackageSupply,
        before: Step,
        after: Step,
    ) -> None:
        self._transport = transport
        self._incoming = incoming
        self._prekeys = prekeys
        self._key_packages = key_packages
        self._before = before
        self._after = after
        # Messages a group rebase fetched (catch_up), handed out by the next fetch().
        self._caught_up: list[ReceivedMessage] = []

    async def fetch(self) -> list[ReceivedMessage]:
        """Pull queued messages over HTTP, decrypt, store, acknowledge (``Client.fetch``).

        What was stored is handed out even if a later request fails: it is marked
        seen, so its redelivery would be dropped as a duplicate; the failure leaves
        it for the next call."""
        received, self._caught_up = self._caught_up, []
        try:
            return await self._fetch_into(received)
        except BaseException:
            self._caught_up[:0] = received  # stored, not handed out: the next fetch's
            raise

    async def _fetch_into(self, received: list[ReceivedMessage]) -> list[ReceivedMessage]:
        await self._before()
        while True:
            page = await self._transport.request("GET", f"/v1/messages?limit={FETCH_PAGE}")
            envelopes = sj.as_list(sj.field(page, "messages", "fetch"), "fetch.messages")
            acks: list[int] = []
            interrupted: ClientError | None = None
            for raw in envelopes:
                try:
                    outcome = await self._incoming.receive(raw)
                except (NetworkError, ServerError) as exc:
                    interrupted = exc
                    break
                if outcome.ack is not None:
                    acks.append(outcome.ack)
                if outcome.message is not None:
                    received.append(outcome.message)
            if acks:
                await self._acknowledge(acks)
            await self._after()
            if interrupted is not None:
                if not received:
                    raise interrupted
                log.warning("fetch stopped early: %s", interrupted)
                return received
            if sj.boolean(page, "prekeys_low", "fetch"):
                await self._replenish_prekeys()
            if page.get("key_packages_low") is True:
                await self._replenish_key_packages()
            if not sj.boolean(page, "more", "fetch") or not acks:
                return received

    async def catch_up(self) -> None:
        """Process everything queued for this device (a group rebase needs the commit
        that won); what it returns is handed out by the next :meth:`fetch`."""
        messages = await self.fetch()  # it takes the earlier ones out first
        self._caught_up.extend(messages)

    async def _acknowledge(self, ids: list[int]) -> None:
        # Everything acknowledged is committed, so a lost ack only means the server
        # delivers these again and the dedup marks acknowledge them then.
        try:
            await self._transport.request("POST", "/v1/messages/ack", {"ids": ids})
        except NetworkError as exc:
            log.warning(
                "acknowledging %d messages failed (%s); they will be redelivered", len(ids), exc
            )

    async def _replenish_prekeys(self) -> None:
        """Top up prekeys without failing the caller: messages matter more, and the
        server keeps saying prekeys_low until an upload succeeds."""
        try:
            await self._prekeys.replenish()
        except ClientError as exc:
            log.warning("uploading prekeys failed: %s", exc)

    async def _replenish_key_packages(self) -> None:
        try:
            await self._key_packages.replenish()
        except ClientError as exc:
            log.warning("uploading KeyPackages failed: %s", exc)

    async def listen(self) -> AsyncIterator[ReceivedMessage]:
        """Messages as they arrive over the WebSocket, forever (``Client.listen``)."""
        backoff = Backoff()
        # Stored (so marked seen) and not handed out yet: what a connection that broke
        # meanwhile leaves here goes out before the next one, as its redelivery is
        # dropped as a duplicate.
        stored: deque[ReceivedMessage] = deque()
        while True:
            try:
                connection = await self._transport.connect_websocket()
            except NetworkError as exc:
                log.info("live connection unavailable (%s); retrying", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            try:
                await self._before()  # each (re)connection is a sync
                async for message in self._stream(connection, backoff.reset, stored):
                    yield message
            except (ConnectionClosed, OSError, NetworkError, ServerError, MalformedResponse) as exc:
                log.info("live connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                await connection.close()
            while stored:
                yield stored.popleft()
            await asyncio.sleep(backoff.next_delay())

    async def _stream(
        self,
        connection: LiveConnection,
        healthy: Callable[[], None],
        stored: deque[ReceivedMessage],
    ) -> AsyncIterator[ReceivedMessage]:
        """The messages of one WebSocket connection, acknowledged after commit: the
        envelopes one read brought (a ``batch`` frame's, docs/api.md) in one ack.
        Each message waits in ``stored`` from its commit until it is handed out."""
        async for frames in connection:
            acks: list[int] = []
            envelopes = 0
            for raw in frames:
                try:
                    frame = sj.as_object(raw, "frame")
                    kind = sj.string(frame, "type", "frame")
                except MalformedResponse:
                    log.warning("ignoring a malformed frame from the server")
                    continue
                if kind == "queue_empty":
                    healthy()
                elif kind == "prekeys_low":
                    await self._replenish_prekeys()
                elif kind == "key_packages_low":
                    await self._replenish_key_packages()
                elif kind == "error":
                    log.warning("the server rejected a frame: %s", frame.get("detail"))
                elif kind == "envelope":
                    envelopes += 1
                    outcome = await self._incoming.receive(frame.get("envelope"))
                    if outcome.ack is not None:
                        acks.append(outcome.ack)
                    if outcome.message is not None:
                        stored.append(outcome.message)
            for start in range(0, len(acks), ACK_IDS_PER_FRAME):
                ids = acks[start : start + ACK_IDS_PER_FRAME]
                await connection.send(json.dumps({"type": "ack", "ids": ids}))
            if envelopes:
                await self._after()
            while stored:
                yield stored.popleft()
