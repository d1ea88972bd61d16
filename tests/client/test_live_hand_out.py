"""A message the SDK stored is handed out even if what follows its commit fails:
the live connection breaking before the acknowledgement goes out (a node killed
under the client: the chaos test, tests/chaos), or a request of ``fetch()`` after
it. Stored means marked seen, so its redelivery is acknowledged and dropped as a
duplicate: handed out only then, it would never reach the caller at all."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest

from sottovoce.client.errors import ServerError
from sottovoce.client.live_connection import LiveConnection
from tests.client.conftest import MakeClient
from tests.support.waiting import take


async def test_a_message_stored_before_the_connection_broke_is_handed_out_once(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    send = LiveConnection.send
    cut: list[LiveConnection] = []

    async def cut_before_the_first_ack(connection: LiveConnection, text: str) -> None:
        if '"ack"' in text and not cut:
            cut.append(connection)
            await connection._connection.close()  # the socket goes, as when its node dies
            while connection.open:
                await asyncio.sleep(0.01)
        await send(connection, text)  # NetworkError once the socket is gone

    monkeypatch.setattr(LiveConnection, "send", cut_before_the_first_ack)
    async with aclosing(bob.listen()) as stream:
        await alice.send(bob.address, "stored, then the connection broke")
        assert [m.text for m in await take(stream, 1)] == ["stored, then the connection broke"]
        assert cut  # the ack did meet a broken connection
        await alice.send(bob.address, "next")
        assert [m.text for m in await take(stream, 1)] == ["next"]  # not the first again
    assert await bob.fetch() == []


async def test_a_message_fetched_before_a_failed_request_is_returned_by_the_next_fetch(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "stored, then the acknowledgement failed")
    request = bob._transport.request
    failed: list[str] = []

    async def fail_the_first_ack(method: str, path: str, payload: Any = None) -> Any:
        if path == "/v1/messages/ack" and not failed:
            failed.append(path)
            raise ServerError(503, "storage-unavailable", "the database went away")
        return await request(method, path, payload)

    monkeypatch.setattr(bob._transport, "request", fail_the_first_ack)
    with pytest.raises(ServerError):
        await bob.fetch()
    assert failed
    texts = [m.text for m in await bob.fetch()]
    assert texts == ["stored, then the acknowledgement failed"]
    assert await bob.fetch() == []
