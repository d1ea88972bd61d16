"""A WebSocket client with no coroutine per frame, for the load bench's clients.

The websockets library's asyncio connection hands each received message to a
``recv()`` coroutine through a queue and a future, and wraps each send in an
async context (locks, a drain); for a client that only reacts to frames that is
most of its CPU per message (bench/load.py profile, docs/performance.md). This
runs the same library's sans-I/O protocol (``websockets.client.ClientProtocol``:
RFC 6455 framing, masking, the opening handshake, close and ping handling) on a
plain ``asyncio.Protocol``: the frames that one read brought are handed to a
callback together, parsed, so a receiver can acknowledge them in one frame, as
the SDK does; a send is queued synchronously, and what one loop iteration sent
goes out in one write. Like the SDK (client/live_connection.py) it offers the
``sottovoce.batches`` subprotocol: the frames of one iteration go as one
``batch`` frame, and the server's batches are taken apart (docs/api.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

# The server's frames are small; a larger one is refused as the library does.
MAX_MESSAGE_BYTES = 1 << 20
CLOSE_TIMEOUT_S = 10.0
# The subprotocol of ``batch`` frames, and what one carries at most (the server's
# limits.MAX_FRAMES_PER_BATCH).
BATCHES = Subprotocol("sottovoce.batches")
MAX_FRAMES_PER_BATCH = 64
BATCH_ENDS = ('{"type":"batch","frames":[', "]}")

# Called with the socket (it may not be returned yet: messages can come with the
# handshake's response) and the frames one read brought, batches taken apart.
OnMessages = Callable[["FrameSocket", list[dict[str, Any]]], None]


class FrameSocket(asyncio.Protocol):
    """One client WebSocket; ``on_messages`` gets the text messages of each read."""

    def __init__(
        self, uri: str, headers: Mapping[str, str], on_messages: OnMessages, batches: bool = True
    ) -> None:
        self._protocol = ClientProtocol(
            parse_uri(uri), subprotocols=[BATCHES] if batches else None, max_size=MAX_MESSAGE_BYTES
        )
        self._request = self._protocol.connect()
        self._request.headers.update(headers)
        self._on_messages = on_messages
        self._transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []
        self._outgoing: list[str] = []
        self._batches = False
        # WebSocket messages each way (a batch counts once), for frames per message.
        self.messages_sent = 0
        self.messages_received = 0
        self._flush_due = False
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    @classmethod
    async def connect(
        cls,
        uri: str,
        headers: Mapping[str, str],
        on_messages: OnMessages,
        open_timeout: float = 10.0,
        batches: bool = True,
    ) -> FrameSocket:
        """Open the TCP connection and complete the opening handshake."""
        address = parse_uri(uri)
        loop = asyncio.get_running_loop()
        _, socket = await loop.create_connection(
            lambda: cls(uri, headers, on_messages, batches), address.host, address.port
        )
        await asyncio.wait_for(socket.opened, open_timeout)
        return socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport has asyncio.Transport's methods, not its class.
        self._transport = cast(asyncio.Transport, transport)
        self._protocol.send_request(self._request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._protocol.receive_data(data)
        frames: list[dict[str, Any]] = []
        for event in self._protocol.events_received():
            if isinstance(event, Response):
                self._opened(event)
            elif isinstance(event, Frame):
                message = self._message(event)
                if message is None:
                    continue
                self.messages_received += 1
                frame = json.loads(message)
                if frame.get("type") == "batch":
                    frames.extend(frame["frames"])
                else:
                    frames.append(frame)
        if frames:
            self._on_messages(self, frames)
        self._flush()  # what the callback sent, pongs, the closing handshake's answer

    def _opened(self, response: Response) -> None:
        if self.opened.done():
            return
        error = self._protocol.handshake_exc
        if error is not None:
            self.opened.set_exception(error)
        else:
            self._batches = response.headers.get("Sec-WebSocket-Protocol") == BATCHES
            self.opened.set_result(None)

    def _message(self, frame: Frame) -> str | None:
        """A whole text message once its last fragment came (RFC 6455 §5.4)."""
        if frame.opcode is Opcode.TEXT or (frame.opcode is Opcode.CONT and self._fragments):
            data = bytes(frame.data)  # no copy: the protocol parses into bytes
            if frame.fin and not self._fragments:
                return data.decode()
            self._fragments.append(data)
            if frame.fin:
                whole, self._fragments = b"".join(self._fragments), []
                return whole.decode()
        return None

    def send_text(self, text: str) -> None:
        if self._protocol.state is not State.OPEN:
            raise ConnectionError("the WebSocket is not open")
        self._outgoing.append(text)
        if not self._flush_due:  # the frames of one loop iteration: one system call
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        if self._transport is None:
            return
        outgoing, self._outgoing = self._outgoing, []
        step = MAX_FRAMES_PER_BATCH if self._batches else 1
        for start in range(0, len(outgoing) if self._protocol.state is State.OPEN else 0, step):
            group = outgoing[start : start + step]
            text = group[0] if len(group) == 1 else ",".join(group).join(BATCH_ENDS)
            self._protocol.send_text(text.encode())
            self.messages_sent += 1
        chunks = self._protocol.data_to_send()
        self._transport.writelines([data for data in chunks if data])
        if b"" in chunks and self._transport.can_write_eof():
            self._transport.write_eof()  # the protocol's end of the TCP stream

    def eof_received(self) -> None:
        self._protocol.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def close(self) -> None:
        """The closing handshake (RFC 6455 §7); the server then ends the TCP
        connection (§7.1.1), or this side does after ``CLOSE_TIMEOUT_S``."""
        if self._protocol.state is State.OPEN:
            self._protocol.send_close()
            self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_TIMEOUT_S)
        except TimeoutError:
            assert self._transport is not None
            self._transport.abort()
