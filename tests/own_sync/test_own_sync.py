"""Sync to the person's own devices: delete for everyone, delete for me and timer
changes made on one linked device apply on the others, on the real server."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import InvalidMessage
from sottovoce.client.own_sync import OUTBOX
from sottovoce.client.sync_content import (
    DeleteForMeSync,
    SentTranscript,
    TimerSync,
    decode_sync,
    decode_transcript,
)
from tests.support.live_server import LiveServer

People = tuple[Client, Client, Client]


@pytest.fixture
async def people(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[People]:
    """Alice on two linked devices, and Bob."""
    tag = secrets.token_hex(3)
    alice = await Client.create_account(tmp_path / "a1", live_server.url, "chat", f"alice-{tag}")
    bob = await Client.create_account(tmp_path / "b", live_server.url, "photos", f"bob-{tag}")
    pending = await Client.begin_link(live_server.url)
    finishing = asyncio.create_task(Client.finish_link(pending, tmp_path / "a2", live_server.url))
    await alice.accept_link(pending.code_text)
    alice2 = await finishing
    try:
        yield alice, alice2, bob
    finally:
        for client in (alice, alice2, bob):
            await client.close()


def texts(client: Client, peer: str) -> list[tuple[str, str]]:
    return [(e.direction, e.text) for e in client.history(peer)]


async def test_delete_for_everyone_leaves_the_peer_and_the_senders_other_device(
    people: People,
) -> None:
    alice, alice2, bob = people
    await alice.send(bob.address, "this stays")
    oops = await alice.send(bob.address, "to the wrong person")
    await bob.fetch()
    await alice2.fetch()
    assert texts(alice2, bob.address) == [("out", "this stays"), ("out", "to the wrong person")]
    heard: list[str] = []
    alice2.on_update = heard.append

    await alice.delete_for_everyone(bob.address, oops.message_id)
    assert texts(alice, bob.address) == [("out", "this stays")]
    assert await alice2.fetch() == []
    assert texts(alice2, bob.address) == [("out", "this stays")]
    assert heard == [bob.address]
    (conversation,) = [c for c in alice2.conversations() if c.peer == bob.address]
    assert conversation.last_text == "this stays"
    assert await bob.fetch() == []
    assert texts(bob, alice.address) == [("in", "this stays")]

    # Once Alice holds Bob's profile key her messages to him go sealed, and her own
    # devices' copies in a request of their own: the same withdrawal reaches both.
    await bob.accept_request(alice.address)
    await bob.send(alice.address, "got it")
    await alice.fetch()
    await alice2.fetch()
    assert alice._sealed.contact_key(bob.address) is not None
    again = await alice.send(bob.address, "sealed, and wrong too")
    await bob.fetch()
    await alice2.fetch()
    await alice.delete_for_everyone(bob.address, again.message_id)
    await alice2.fetch()
    await bob.fetch()
    for client, peer in ((alice, bob.address), (alice2, bob.address), (bob, alice.address)):
        assert "sealed, and wrong too" not in [text for _, text in texts(client, peer)]
        assert len(texts(client, peer)) == 2


async def test_a_timer_change_applies_on_the_other_device(people: People) -> None:
    alice, alice2, bob = people
    await alice.send(bob.address, "hello")
    await bob.fetch()
    await alice2.fetch()
    await alice.set_disappearing_timer(bob.address, 3_600)
    assert await alice2.fetch() == []
    assert alice2.disappearing_timer(bob.address) == 3_600
    # Only this account's devices are told; Bob learns it from the next message.
    assert await bob.fetch() == []
    assert bob.disappearing_timer(alice.address) == 0
    await alice2.send(bob.address, "now with a timer")
    await bob.fetch()
    assert bob.disappearing_timer(alice.address) == 3_600
    (entry,) = [e for e in bob.history(alice.address) if e.text == "now with a timer"]
    assert entry.expires_at is not None

    await alice2.set_disappearing_timer(bob.address, 0)
    await alice.fetch()
    assert alice.disappearing_timer(bob.address) == 0


async def test_delete_for_me_leaves_this_accounts_devices_only(
    people: People, live_server: LiveServer
) -> None:
    alice, alice2, bob = people
    mine = await alice.send(bob.address, "alice's own")
    await bob.fetch()
    theirs = await bob.send(alice.address, "bob's answer")
    await bob.send(alice.address, "bob again")
    await alice.fetch()
    await alice2.fetch()
    assert texts(alice2, bob.address) == [
        ("out", "alice's own"),
        ("in", "bob's answer"),
        ("in", "bob again"),
    ]
    await alice.delete_for_me(bob.address, mine.message_id)
    await alice.delete_for_me(bob.address, theirs.message_id)
    assert await alice2.fetch() == []
    assert texts(alice2, bob.address) == [("in", "bob again")]
    assert texts(alice, bob.address) == [("in", "bob again")]
    # The peer keeps everything: nothing was sent to Bob.
    assert await bob.fetch() == []
    assert texts(bob, alice.address) == [
        ("in", "alice's own"),
        ("out", "bob's answer"),
        ("out", "bob again"),
    ]

    # Offline, the deletion happens here at once and reaches the other device later.
    live_server.stop()
    (last,) = alice.history(bob.address)
    await alice.delete_for_me(bob.address, last.message_id)
    assert texts(alice, bob.address) == []
    assert len(alice._store.all_json(OUTBOX)) == 1
    live_server.start()
    await alice.fetch()
    assert alice._store.all_json(OUTBOX) == []
    await alice2.fetch()
    assert texts(alice2, bob.address) == []


def test_sync_messages_are_checked_field_by_field() -> None:
    good = json.loads(DeleteForMeSync("s1", "bob@photos", ("m1", "m2")).encode())
    assert decode_sync(json.dumps(good).encode()) == DeleteForMeSync(
        "s1", "bob@photos", ("m1", "m2")
    )
    timer = json.loads(TimerSync("s2", "bob@photos", 300, 5).encode())
    assert decode_sync(json.dumps(timer).encode()) == TimerSync("s2", "bob@photos", 300, 5)
    for bad in (
        {**good, "ids": []},
        {**good, "ids": ["../x"]},
        {**good, "ids": [f"m{i}" for i in range(101)]},
        {**good, "peer": "nobody"},
        {**good, "id": ""},
        {**good, "v": 2},
        {**good, "kind": "wipe-everything"},
        {**timer, "seconds": 7},
        {**timer, "seconds": True},
        {**timer, "sent_at": -1},
    ):
        with pytest.raises(InvalidMessage):
            decode_sync(json.dumps(bad).encode())
    with pytest.raises(InvalidMessage):
        decode_sync(b"\xff not json")
    # A transcript wraps a message or a deletion, never a receipt.
    receipt = '{"v":1,"kind":"receipt","id":"r1","type":"read","ids":["m1"],"sent_at":1}'
    with pytest.raises(InvalidMessage, match="neither"):
        decode_sync(
            json.dumps({"v": 1, "kind": "sent", "to": "bob@photos", "content": receipt}).encode()
        )
    with pytest.raises(InvalidMessage, match="not a sent transcript"):
        decode_transcript(json.dumps(good).encode())
    delete = '{"v":1,"kind":"delete","id":"d1","target":"m1","sent_at":1}'
    sent = decode_sync(
        json.dumps({"v": 1, "kind": "sent", "to": "bob@photos", "content": delete}).encode()
    )
    assert isinstance(sent, SentTranscript) and sent.message_id == "d1"
