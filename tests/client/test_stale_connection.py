"""A pooled connection the server closes just as a request goes out on it.

uvicorn closes an idle keep-alive connection after 5 s; a client whose event loop
was busy (decrypting a backlog) can take that connection from its pool at the
moment the server closes it, and the request dies unanswered. The stand-in server
here answers each connection's first request and closes the connection on its
second without an answer, which is that race made certain.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from sottovoce.client.errors import NetworkError
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from tests.support.http_stand_in import StandInServer, json_answer

ANSWER = json.dumps({"messages": []}).encode()


def _closing(_: int, on_connection: int) -> bytes | None:
    """One answer per connection, then a close mid-request (a keep-alive timeout)."""
    return json_answer("200 OK", ANSWER) if on_connection == 1 else None


@pytest.fixture
async def transport() -> AsyncIterator[tuple[Transport, StandInServer]]:
    server = StandInServer(_closing)
    url = await server.start()
    client = Transport(url, "alice@chat", 1, SigningKey.generate())
    yield client, server
    await client.close()
    await server.close()


async def test_a_read_is_sent_again_on_a_new_connection(
    transport: tuple[Transport, StandInServer],
) -> None:
    client, server = transport
    await client.request("GET", "/v1/messages?limit=1")
    assert await client.request("GET", "/v1/messages?limit=1") == {"messages": []}
    # The repeat went out on a new connection, signed afresh.
    assert server.requests == ["GET /v1/messages?limit=1 HTTP/1.1"] * 3


async def test_an_acknowledgement_is_sent_again(
    transport: tuple[Transport, StandInServer],
) -> None:
    client, server = transport
    await client.request("GET", "/v1/messages?limit=1")
    await client.request("POST", "/v1/messages/ack", {"ids": [1]})
    assert server.requests[1:] == ["POST /v1/messages/ack HTTP/1.1"] * 2


async def test_a_request_that_may_not_be_repeated_is_not(
    transport: tuple[Transport, StandInServer],
) -> None:
    client, server = transport
    await client.request("GET", "/v1/messages?limit=1")
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await client.request("POST", "/v1/accounts", {"handle": "alice"})
    assert server.requests[1:] == ["POST /v1/accounts HTTP/1.1"]
