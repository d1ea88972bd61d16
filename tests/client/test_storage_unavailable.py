"""A request that met a lost database connection (a PostgreSQL restart): the server
answers 503 with Retry-After instead of 500, and the client sends a repeatable
request once more after that delay (tests/engines/test_node_recovery.py restarts a
real PostgreSQL under two nodes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import DBAPIError

from sottovoce.client.errors import ServerError
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.server.problems import handle_unexpected

UNAVAILABLE = json.dumps(
    {"type": "storage-unavailable", "title": "storage unavailable", "status": 503, "detail": "x"}
).encode()
ANSWER = json.dumps({"messages": []}).encode()


class OnceUnavailable:
    """HTTP/1.1 on loopback: the first request gets 503 (Retry-After: 0), the rest 200."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(": ") for h in head[1:])
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests.append(head[0])
                if len(self.requests) == 1:
                    status, extra, body = (
                        "503 Service Unavailable",
                        "retry-after: 0\r\n",
                        UNAVAILABLE,
                    )
                else:
                    status, extra, body = "200 OK", "", ANSWER
                writer.write(
                    f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}".encode()
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def transport() -> AsyncIterator[tuple[Transport, OnceUnavailable]]:
    server = OnceUnavailable()
    client = Transport(await server.start(), "alice@chat", 1, SigningKey.generate())
    yield client, server
    await client.close()
    await server.close()


async def test_a_read_is_sent_again_after_a_503(
    transport: tuple[Transport, OnceUnavailable],
) -> None:
    client, server = transport
    assert await client.request("GET", "/v1/transparency/head") == {"messages": []}
    assert server.requests == ["GET /v1/transparency/head HTTP/1.1"] * 2


async def test_a_request_that_may_not_be_repeated_gets_the_503(
    transport: tuple[Transport, OnceUnavailable],
) -> None:
    client, server = transport
    with pytest.raises(ServerError, match="503"):
        await client.request("POST", "/v1/accounts", {"handle": "alice"})
    assert server.requests == ["POST /v1/accounts HTTP/1.1"]


def _db_error(invalidated: bool) -> DBAPIError:
    return DBAPIError(
        "SELECT 1", None, OSError("connection is closed"), connection_invalidated=invalidated
    )


async def test_the_server_answers_a_lost_connection_503_and_a_bug_500() -> None:
    lost = await handle_unexpected(None, _db_error(True))  # type: ignore[arg-type]
    assert lost.status_code == 503
    assert lost.headers["retry-after"] == "1"
    assert json.loads(lost.body)["type"] == "storage-unavailable"
    bug = await handle_unexpected(None, _db_error(False))  # type: ignore[arg-type]
    assert bug.status_code == 500
    assert "retry-after" not in bug.headers
