"""Receiving is atomic: a crash before the acknowledgement neither loses nor
duplicates a message, and a crash before the commit leaves no half-applied state."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from sottovoce.client import Client
from sottovoce.client.errors import NetworkError
from tests.sdk.conftest import MakeClient, reopen, texts
from tests.support.waiting import take


class SimulatedCrash(Exception):
    """The process dies here: nothing after this point runs."""


def crash_on_request(monkeypatch: pytest.MonkeyPatch, client: Client, path: str) -> None:
    real = client._transport.request

    async def request(method: str, target: str, payload: Any = None) -> dict[str, Any]:
        if target.startswith(path):
            raise SimulatedCrash(target)
        return await real(method, target, payload)

    monkeypatch.setattr(client._transport, "request", request)


async def queued_on_server(client: Client) -> list[str]:
    """Message ids still queued for ``client`` (a plain GET acknowledges nothing)."""
    page = await client._transport.request("GET", "/v1/messages")
    return [m["message_id"] for m in page["messages"]]


def history_texts(client: Client, peer: str) -> list[str]:
    return [e.text for e in client.history(peer)]


@pytest.fixture
async def pair(make_client: MakeClient) -> tuple[Client, Client]:
    return await make_client("alice"), await make_client("bob", "photos")


async def test_a_crash_between_commit_and_ack_neither_loses_nor_duplicates(
    monkeypatch: pytest.MonkeyPatch, pair: tuple[Client, Client]
) -> None:
    alice, bob = pair
    sent = [await alice.send(bob.address, text) for text in ("first", "second")]
    crash_on_request(monkeypatch, bob, "/v1/messages/ack")
    with pytest.raises(SimulatedCrash):
        await bob.fetch()

    bob = await reopen(bob)
    try:
        assert await queued_on_server(bob) == [m.message_id for m in sent]
        assert await bob.fetch() == []  # stored before the crash: acknowledged, not repeated
        assert await queued_on_server(bob) == []
        (conversation,) = bob.conversations()
        assert conversation.unread == 2  # counted once each, not again on redelivery
        assert history_texts(bob, alice.address) == ["first", "second"]
        await alice.send(bob.address, "third")
        assert await texts(bob) == ["third"]
    finally:
        await bob.close()


async def test_a_crash_inside_the_commit_leaves_the_message_to_be_received_again(
    monkeypatch: pytest.MonkeyPatch, pair: tuple[Client, Client]
) -> None:
    """The session advance, the consumed prekeys, the dedup mark and the history
    entry commit together: if the last fails, none of them happened."""
    alice, bob = pair
    await alice.send(bob.address, "opens the session")

    def crash(*_: object) -> None:
        raise SimulatedCrash("history")

    monkeypatch.setattr(bob._history, "record", crash)
    with pytest.raises(SimulatedCrash):
        await bob.fetch()

    bob = await reopen(bob)
    try:
        assert history_texts(bob, alice.address) == []
        assert await texts(bob) == ["opens the session"]
        assert history_texts(bob, alice.address) == ["opens the session"]
        await bob.send(alice.address, "and it works both ways")
        assert await texts(alice) == ["and it works both ways"]
    finally:
        await bob.close()


async def test_a_crash_in_listen_before_the_ack_is_repaired_on_reopen(
    monkeypatch: pytest.MonkeyPatch, pair: tuple[Client, Client]
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "over the socket")
    real_connect = bob._transport.connect_websocket

    async def connect() -> ClientConnection:
        connection = await real_connect()

        async def send(*_: object, **__: object) -> None:
            raise SimulatedCrash("websocket ack")

        monkeypatch.setattr(connection, "send", send)
        return connection

    monkeypatch.setattr(bob._transport, "connect_websocket", connect)
    with pytest.raises(SimulatedCrash):
        await take(bob.listen(), 1)

    bob = await reopen(bob)
    try:
        assert len(await queued_on_server(bob)) == 1
        assert await bob.fetch() == []
        assert await queued_on_server(bob) == []
        assert history_texts(bob, alice.address) == ["over the socket"]
    finally:
        await bob.close()


async def test_a_lost_ack_is_sent_again_on_the_next_fetch(
    monkeypatch: pytest.MonkeyPatch, pair: tuple[Client, Client]
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "ack me twice")
    real = bob._transport.request

    async def flaky(method: str, target: str, payload: Any = None) -> dict[str, Any]:
        if target == "/v1/messages/ack":
            raise NetworkError("the connection dropped")
        return await real(method, target, payload)

    monkeypatch.setattr(bob._transport, "request", flaky)
    assert [m.text for m in await bob.fetch()] == ["ack me twice"]
    monkeypatch.setattr(bob._transport, "request", real)
    assert len(await queued_on_server(bob)) == 1
    assert await bob.fetch() == []
    assert await queued_on_server(bob) == []
    assert history_texts(bob, alice.address) == ["ack me twice"]
