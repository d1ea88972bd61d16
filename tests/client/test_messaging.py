"""Conversations through the real server process: across apps, both ways, offline, live."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.content import MAX_CONTENT_LEN
from sottovoce.client.errors import InvalidAddress, InvalidMessage, UnknownAccount
from tests.client.conftest import MakeClient, profile_of
from tests.support.waiting import take


async def test_two_clients_on_different_apps_talk_both_ways(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    sent = await alice.send(bob.address, "hello from chat")
    (received,) = await bob.fetch()
    assert (received.sender, received.sender_device) == (alice.address, 1)
    assert received.text == "hello from chat"
    assert received.message_id == sent.message_id
    assert received.sent_at == sent.sent_at
    await bob.send(alice.address, "hello from photos")
    await bob.send(alice.address, "and again")
    assert [m.text for m in await alice.fetch()] == ["hello from photos", "and again"]
    await alice.send(bob.address, "third turn")
    assert [m.text for m in await bob.fetch()] == ["third turn"]
    assert await alice.fetch() == [] and await bob.fetch() == []


async def test_three_clients_keep_separate_conversations(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    carol = await make_client("carol", "chat")
    await alice.send(bob.address, "a to b")
    await carol.send(bob.address, "c to b")
    await alice.send(carol.address, "a to c")
    by_sender = {m.sender: m.text for m in await bob.fetch()}
    assert by_sender == {alice.address: "a to b", carol.address: "c to b"}
    await bob.send(alice.address, "b to a")
    await bob.send(carol.address, "b to c")
    assert [(m.sender, m.text) for m in await carol.fetch()] == [
        (alice.address, "a to c"),
        (bob.address, "b to c"),
    ]
    assert [(m.sender, m.text) for m in await alice.fetch()] == [(bob.address, "b to a")]
    assert [(e.direction, e.text) for e in bob.history(carol.address)] == [
        ("in", "c to b"),
        ("out", "b to c"),
    ]
    assert {c.peer for c in bob.conversations()} == {alice.address, carol.address}


async def test_offline_recipient_gets_everything_on_next_open(
    make_client: MakeClient, tmp_path: Path
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await bob.close()  # bob's device is off
    for i in range(3):
        await alice.send(bob.address, f"while you were away {i}")
    async with await Client.open(profile_of(tmp_path, bob.address)) as bob_again:
        assert [m.text for m in await bob_again.fetch()] == [
            f"while you were away {i}" for i in range(3)
        ]
        await bob_again.send(alice.address, "back now")
    assert [m.text for m in await alice.fetch()] == ["back now"]


async def test_history_and_conversations_survive_a_reopen(
    make_client: MakeClient, tmp_path: Path
) -> None:
    alice = await make_client("alice", "chat", passphrase="alice's passphrase")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "one")
    await bob.fetch()
    await bob.send(alice.address, "two")
    await bob.send(alice.address, "three")
    await alice.fetch()
    (conversation,) = alice.conversations()
    assert (conversation.peer, conversation.last_text, conversation.unread) == (
        bob.address,
        "three",
        2,
    )
    await alice.close()
    async with await Client.open(
        profile_of(tmp_path, alice.address), passphrase="alice's passphrase"
    ) as alice_again:
        history = alice_again.history(bob.address)
        assert [(e.direction, e.text, e.peer) for e in history] == [
            ("out", "one", bob.address),
            ("in", "two", bob.address),
            ("in", "three", bob.address),
        ]
        assert alice_again.history(bob.address, limit=1)[0].text == "three"
        assert alice_again.conversations()[0].unread == 0  # reading the history read it
        await alice_again.send(bob.address, "four")
    assert [m.text for m in await bob.fetch()] == ["four"]


async def test_listen_yields_the_backlog_then_live_messages(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "queued 1")
    await alice.send(bob.address, "queued 2")
    async with aclosing(bob.listen()) as stream:
        assert [m.text for m in await take(stream, 2)] == ["queued 1", "queued 2"]
        await alice.send(bob.address, "live")
        (live,) = await take(stream, 1)
        assert (live.text, live.sender) == ("live", alice.address)
    assert await bob.fetch() == []  # everything was acknowledged over the socket


async def test_sending_refuses_bad_recipients_and_bad_text(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    with pytest.raises(InvalidAddress):
        await alice.send("not an address", "hi")
    with pytest.raises(InvalidAddress, match="yourself"):
        await alice.send(alice.address, "hi")
    with pytest.raises(UnknownAccount, match="nobody@chat does not exist"):
        await alice.send("nobody@chat", "hi")
    bob = await make_client("bob", "photos")
    with pytest.raises(InvalidMessage, match="needs some text"):
        await alice.send(bob.address, "")
    with pytest.raises(InvalidMessage, match="at most"):
        await alice.send(bob.address, "x" * MAX_CONTENT_LEN)
    assert alice.history(bob.address) == []
    with pytest.raises(InvalidAddress):
        alice.history("bob")


async def test_the_largest_message_fits_through_the_relay(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    text = "é" * ((MAX_CONTENT_LEN - 200) // 2)  # two UTF-8 bytes each, first message: PreKey
    await alice.send(bob.address, text)
    assert [m.text for m in await bob.fetch()] == [text]


async def test_received_messages_do_not_show_their_text_in_repr(make_client: MakeClient) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    sent = await alice.send(bob.address, "private words")
    (received,) = await bob.fetch()
    for value in (sent, received, bob.history(alice.address)[0], bob.conversations()[0]):
        assert "private words" not in repr(value)
