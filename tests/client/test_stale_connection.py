"""A pooled connection the server closes just as a request goes out on it.

uvicorn closes an idle keep-alive connection after 5 s; a client whose event loop
was busy (decrypting a backlog) can take that connection from its pool at the
moment the server closes it, and the request dies unanswered. The stand-in server
here answers each connection's first request and closes the connection on its
second without an answer, which is that race made certain.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from sottovoce.client.errors import NetworkError
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey

ANSWER = json.dumps({"messages": []}).encode()


class ClosingServer:
    """HTTP/1.1 on loopback: one answer per connection, then a close mid-request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(": ") for h in lines[1:])
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests.append(lines[0])
                if answered:
                    return  # closed without an answer, as a keep-alive timeout does
                answered = True
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(ANSWER)}\r\n\r\n".encode()
                    + ANSWER
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def transport() -> AsyncIterator[tuple[Transport, ClosingServer]]:
    server = ClosingServer()
    url = await server.start()
    client = Transport(url, "alice@chat", 1, SigningKey.generate())
    yield client, server
    await client.close()
    await server.close()


async def test_a_read_is_sent_again_on_a_new_connection(
    transport: tuple[Transport, ClosingServer],
) -> None:
    client, server = transport
    await client.request("GET", "/v1/messages?limit=1")
    assert await client.request("GET", "/v1/messages?limit=1") == {"messages": []}
    # The repeat went out on a new connection, signed afresh.
    assert server.requests == ["GET /v1/messages?limit=1 HTTP/1.1"] * 3


async def test_an_acknowledgement_is_sent_again(
    transport: tuple[Transport, ClosingServer],
) -> None:
    client, server = transport
    await client.request("GET", "/v1/messages?limit=1")
    await client.request("POST", "/v1/messages/ack", {"ids": [1]})
    assert server.requests[1:] == ["POST /v1/messages/ack HTTP/1.1"] * 2


async def test_a_request_that_may_not_be_repeated_is_not(
    transport: tuple[Transport, ClosingServer],
) -> None:
    client, server = transport
    await client.request("GET", "/v1/messages?limit=1")
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await client.request("POST", "/v1/accounts", {"handle": "alice"})
    assert server.requests[1:] == ["POST /v1/accounts HTTP/1.1"]
