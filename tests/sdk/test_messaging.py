"""Clients on the real server: conversations across apps, offline delivery, live
delivery, lost responses and a server restart mid-conversation."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sottovoce.client import Client, ReceivedMessage
from sottovoce.client.errors import InvalidAddress, InvalidMessage, UnknownAccount
from tests.sdk.conftest import MakeClient, listening, reopen, texts
from tests.support.live_server import LiveServer
from tests.support.waiting import eventually, take


def exchange_log(client: Client, peer: str) -> list[tuple[str, str]]:
    return [(e.direction, e.text) for e in client.history(peer)]


async def test_two_clients_on_different_apps_talk_both_ways(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    sent = await alice.send(bob.address, "hi bob, it's alice on chat")
    await alice.send(bob.address, "are you on photos?")
    received = await bob.fetch()
    assert [m.text for m in received] == ["hi bob, it's alice on chat", "are you on photos?"]
    first = received[0]
    assert (first.message_id, first.sender, first.sender_device) == (
        sent.message_id,
        alice.address,
        1,
    )
    assert abs(first.sent_at - sent.sent_at) < timedelta(milliseconds=1)
    assert first.sent_at <= first.received_at <= datetime.now(UTC)

    await bob.send(alice.address, "yes — photos here 📷")
    assert await texts(alice) == ["yes — photos here 📷"]
    await alice.send(bob.address, "great")
    assert await texts(bob) == ["great"]

    assert exchange_log(alice, bob.address) == [
        ("out", "hi bob, it's alice on chat"),
        ("out", "are you on photos?"),
        ("in", "yes — photos here 📷"),
        ("out", "great"),
    ]
    assert exchange_log(bob, alice.address) == [
        ("in", "hi bob, it's alice on chat"),
        ("in", "are you on photos?"),
        ("out", "yes — photos here 📷"),
        ("in", "great"),
    ]
    (conversation,) = alice.conversations()
    assert (conversation.peer, conversation.last_text, conversation.unread) == (
        bob.address,
        "great",
        0,
    )


async def test_three_clients_each_talk_to_both_others(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    carol = await make_client("carol", "chat")
    clients = [alice, bob, carol]
    for sender in clients:
        for recipient in clients:
            if recipient is not sender:
                await sender.send(recipient.address, f"{sender.address} -> {recipient.address}")
    for recipient in clients:
        received = await recipient.fetch()
        expected = {
            (s.address, f"{s.address} -> {recipient.address}")
            for s in clients
            if s is not recipient
        }
        assert {(m.sender, m.text) for m in received} == expected
        assert len(received) == 2
        conversations = recipient.conversations()
        assert {c.peer for c in conversations} == {s.address for s in clients} - {recipient.address}
        assert all(c.unread == 1 for c in conversations)
        stamps = [c.last_timestamp for c in conversations]
        assert stamps == sorted(stamps, reverse=True)


async def test_an_offline_recipient_gets_everything_in_order(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    # Small pages, so the backlog below spans several GET /v1/messages round trips.
    monkeypatch.setattr("sottovoce.client.inbox.FETCH_PAGE", 3)
    alice = await make_client("alice")
    bob = await make_client("bob", "photos", passphrase="bob's passphrase")
    bob_address = bob.address
    await bob.close()
    sent = [f"while you were away #{i}" for i in range(10)]
    for text in sent:
        await alice.send(bob_address, text)
    bob = await Client.open(bob._store.directory, passphrase="bob's passphrase")
    try:
        assert await texts(bob) == sent
        assert await bob.fetch() == []
        (conversation,) = bob.conversations()
        assert (conversation.unread, conversation.last_text) == (len(sent), sent[-1])
    finally:
        await bob.close()


async def test_listen_delivers_the_backlog_then_live_messages(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "waiting for you")
    async with listening(bob) as stream:
        (queued,) = await take(stream, 1)
        assert queued.text == "waiting for you"
        # Connected now: these arrive by push, not by polling.
        pending = asyncio.ensure_future(take(stream, 2))
        await alice.send(bob.address, "live one")
        await alice.send(bob.address, "live two")
        live = await pending
        assert [(m.sender, m.text) for m in live] == [
            (alice.address, t) for t in ("live one", "live two")
        ]
    # Each was acknowledged over the socket: nothing is queued or fetched again.
    assert await bob.fetch() == []
    assert [e.text for e in bob.history(alice.address)] == [
        "waiting for you",
        "live one",
        "live two",
    ]


async def test_a_lost_response_is_retried_and_delivered_once(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    http = alice._transport._http
    real = http.request
    posts: list[tuple[str, dict[str, Any]]] = []

    async def lose_first_answer(method: str, url: Any, **kwargs: Any) -> httpx.Response:
        response = await real(method, url, **kwargs)
        if method == "POST" and url == "/v1/messages":
            posts.append((json.loads(kwargs["content"])["message_id"], response.json()))
            if len(posts) == 1:
                raise httpx.ReadError("the answer was lost on the way back")
        return response

    monkeypatch.setattr(http, "request", lose_first_answer)
    sent = await alice.send(bob.address, "exactly once")
    assert [(m, a["duplicate"]) for m, a in posts] == [
        (sent.message_id, False),
        (sent.message_id, True),
    ]
    assert [(m.message_id, m.text) for m in await bob.fetch()] == [
        (sent.message_id, "exactly once")
    ]
    assert exchange_log(alice, bob.address) == [("out", "exactly once")]


async def test_a_server_restart_mid_conversation_loses_nothing(
    live_server: LiveServer, make_client: MakeClient
) -> None:
    alice = await make_client("alice", server=live_server)
    bob = await make_client("bob", "photos", server=live_server)
    await alice.send(bob.address, "before the restart")
    heard: list[ReceivedMessage] = []

    async def listen() -> None:
        async for message in bob.listen():
            heard.append(message)

    listener = asyncio.ensure_future(listen())
    try:
        await eventually(lambda: len(heard) == 1)
        live_server.stop()
        # Sent while the server is down: the SDK retries with the same message id.
        sending = asyncio.ensure_future(alice.send(bob.address, "during the restart"))
        await asyncio.sleep(0.5)
        live_server.start()
        await sending
        await alice.send(bob.address, "after the restart")
        await eventually(lambda: len(heard) == 3)
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener
    assert [m.text for m in heard] == [
        "before the restart",
        "during the restart",
        "after the restart",
    ]
    await bob.send(alice.address, "all three arrived")
    assert await texts(alice) == ["all three arrived"]
    bob = await reopen(bob)
    try:
        assert await bob.fetch() == []
    finally:
        await bob.close()


async def test_bad_sends_are_refused_before_anything_is_stored(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    with pytest.raises(UnknownAccount):
        await alice.send("nobody-here@photos", "hello?")
    with pytest.raises(InvalidAddress):
        await alice.send("not an address", "hello?")
    with pytest.raises(InvalidAddress):
        await alice.send(alice.address, "note to self")
    bob = await make_client("bob")
    with pytest.raises(InvalidMessage):
        await alice.send(bob.address, "")
    with pytest.raises(InvalidMessage):
        await alice.send(bob.address, "x" * (64 * 1024))
    assert alice.conversations() == []
    assert await bob.fetch() == []


async def test_both_sides_starting_a_session_at_once_still_converge(
    make_client: MakeClient,
) -> None:
    """Simultaneous initiation: each sends a PreKey message before hearing from the
    other, so each holds two sessions; every later message must still decrypt."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await asyncio.gather(alice.send(bob.address, "a1"), bob.send(alice.address, "b1"))
    assert await texts(alice) == ["b1"]
    assert await texts(bob) == ["a1"]
    for i in range(2, 5):
        await alice.send(bob.address, f"a{i}")
        await bob.send(alice.address, f"b{i}")
        assert await texts(bob) == [f"a{i}"]
        assert await texts(alice) == [f"b{i}"]


async def test_replying_from_inside_listen_while_the_peer_keeps_sending(
    make_client: MakeClient,
) -> None:
    """send() and listen() of one client interleave in one event loop; the peer sends
    several messages before reading any reply (out-of-order ratchet chains)."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    count = 5

    async def echo() -> list[str]:
        heard: list[str] = []
        async with listening(bob) as stream:
            async for message in stream:
                heard.append(message.text)
                await bob.send(alice.address, f"re: {message.text}")
                if len(heard) == count:
                    break
        return heard

    echoing = asyncio.ensure_future(asyncio.wait_for(echo(), 30))
    for i in range(count):
        await alice.send(bob.address, f"m{i}")
    assert await echoing == [f"m{i}" for i in range(count)]
    replies: list[str] = []
    await eventually(lambda: _collect(alice, replies, count))
    assert replies == [f"re: m{i}" for i in range(count)]


async def _collect(client: Client, into: list[str], count: int) -> bool:
    into.extend(m.text for m in await client.fetch())
    return len(into) >= count
