"""A request that met a lost database connection (a PostgreSQL restart): the server
answers 503 with Retry-After instead of 500, and the client sends a repeatable
request once more after that delay (tests/engines/test_node_recovery.py restarts a
real PostgreSQL under two nodes)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import DBAPIError

from sottovoce.client.errors import ServerError
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.server.problems import handle_unexpected
from tests.support.http_stand_in import StandInServer, json_answer

UNAVAILABLE = json.dumps(
    {"type": "storage-unavailable", "title": "storage unavailable", "status": 503, "detail": "x"}
).encode()
ANSWER = json.dumps({"messages": []}).encode()


def _once_unavailable(request: int, _: int) -> bytes:
    """The first request gets 503 (Retry-After: 0), the rest 200."""
    if request == 1:
        return json_answer("503 Service Unavailable", UNAVAILABLE, "retry-after: 0\r\n")
    return json_answer("200 OK", ANSWER)


@pytest.fixture
async def transport() -> AsyncIterator[tuple[Transport, StandInServer]]:
    server = StandInServer(_once_unavailable)
    client = Transport(await server.start(), "alice@chat", 1, SigningKey.generate())
    yield client, server
    await client.close()
    await server.close()


async def test_a_read_is_sent_again_after_a_503(
    transport: tuple[Transport, StandInServer],
) -> None:
    client, server = transport
    assert await client.request("GET", "/v1/transparency/head") == {"messages": []}
    assert server.requests == ["GET /v1/transparency/head HTTP/1.1"] * 2


async def test_a_request_that_may_not_be_repeated_gets_the_503(
    transport: tuple[Transport, StandInServer],
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
