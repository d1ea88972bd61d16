"""Delivery and read receipts: encrypted, only for accepted contacts, never backwards."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.content import DeleteContent, ReceiptContent, TypingContent, decode_payload
from sottovoce.client.errors import ClientError, InvalidMessage
from tests.support.live_server import LiveServer
from tests.support.people import two_people


@pytest.fixture
async def pair(
    live_server_module: LiveServer, tmp_path: Path
) -> AsyncIterator[tuple[Client, Client]]:
    async with two_people(live_server_module.url, tmp_path) as people:
        yield people


async def test_delivered_then_read_for_accepted_contacts_only(
    pair: tuple[Client, Client],
) -> None:
    alice, bob = pair
    for client in (alice, bob):
        assert not client.receipts_enabled()  # the SDK's default
        client.set_receipts(True)
    heard: list[str] = []
    alice.on_update = heard.append
    first = await alice.send(bob.address, "hello stranger")
    assert alice.message_state(first.message_id) == "sent"
    await bob.fetch()
    assert await alice.fetch() == []
    assert alice.message_state(first.message_id) == "sent"  # a request sends nothing back

    await bob.accept_request(alice.address)
    second = await alice.send(bob.address, "now we know each other")
    await bob.fetch()
    assert await alice.fetch() == []  # receipts are not messages
    assert alice.message_state(second.message_id) == "delivered"
    assert heard == [bob.address]

    await bob.send_read_receipt(alice.address, [first.message_id, second.message_id])
    await alice.fetch()
    assert alice.message_state(first.message_id) == "read"
    assert alice.message_state(second.message_id) == "read"

    # Never backwards, and a delivered receipt arriving late changes nothing.
    await bob._outgoing.send_receipt(alice.address, "delivered", [second.message_id])
    await alice.fetch()
    assert alice.message_state(second.message_id) == "read"
    assert [e.text for e in alice.history(bob.address)] == [
        "hello stranger",
        "now we know each other",
    ]


async def test_no_receipts_when_off_and_none_for_foreign_ids(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.set_receipts(True)
    await alice.send(bob.address, "hi")
    await bob.fetch()
    await bob.accept_request(alice.address)
    sent = await alice.send(bob.address, "bob has receipts off")
    await bob.fetch()
    await alice.fetch()
    assert alice.message_state(sent.message_id) == "sent"
    # A receipt naming a message that was not sent to this peer moves nothing.
    reply = await bob.send(alice.address, "a reply")
    await alice.fetch()
    await bob._outgoing.send_receipt(alice.address, "read", [reply.message_id])
    await alice.fetch()
    assert alice.message_state(reply.message_id) is None


def test_hostile_receipts_are_refused() -> None:
    good = json.loads(ReceiptContent("r1", "read", ("m1",), 5).encode())
    assert decode_payload(json.dumps(good).encode()) == ReceiptContent("r1", "read", ("m1",), 5)
    for field, value in [
        ("type", "seen"),
        ("ids", []),
        ("ids", ["m"] * 101),
        ("ids", ["../x"]),
        ("ids", "m1"),
        ("sent_at", -1),
        ("id", ""),
        ("v", 2),
    ]:
        with pytest.raises(InvalidMessage):
            decode_payload(json.dumps({**good, field: value}).encode())


async def test_delete_for_me_and_for_everyone(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    keep = await alice.send(bob.address, "this stays")
    oops = await alice.send(bob.address, "sent to the wrong person")
    await bob.fetch()
    heard: list[str] = []
    bob.on_update = heard.append
    await alice.delete_for_everyone(bob.address, oops.message_id)
    assert [e.text for e in alice.history(bob.address)] == ["this stays"]
    assert await bob.fetch() == []
    assert [e.text for e in bob.history(alice.address)] == ["this stays"]
    assert heard == [alice.address]
    (conversation,) = [c for c in bob.conversations() if c.peer == alice.address]
    assert conversation.last_text == "this stays"

    # Only the sender can withdraw its own message: Bob cannot delete Alice's for her.
    await bob.accept_request(alice.address)
    mine = await bob.send(alice.address, "bob's own")
    await alice.fetch()
    with pytest.raises(ClientError, match="you sent no message"):
        await bob.delete_for_everyone(alice.address, keep.message_id)
    # A deletion Bob crafts naming Alice's own message removes nothing of hers.
    forged = DeleteContent("forged-delete", keep.message_id, int(time.time() * 1000))
    await bob._outgoing.transmit(
        forged.message_id, alice.address, forged.encode(), own_copies=False
    )
    await alice.fetch()
    assert [e.text for e in alice.history(bob.address)] == ["this stays", "bob's own"]

    await bob.delete_for_me(alice.address, mine.message_id)
    assert [e.text for e in bob.history(alice.address)] == ["this stays"]
    with pytest.raises(ClientError, match="no message"):
        await bob.delete_for_me(alice.address, mine.message_id)


async def test_typing_indicators_are_fresh_encrypted_and_optional(
    pair: tuple[Client, Client],
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "hi")
    await bob.fetch()
    await bob.accept_request(alice.address)
    seen: list[tuple[str, bool]] = []
    alice.on_typing = lambda peer, started: seen.append((peer, started))
    await bob.send_typing(alice.address, True)  # off on Bob's side: nothing is sent
    await alice.fetch()
    assert seen == []
    for client in (alice, bob):
        client.set_typing_indicators(True)
    await bob.send_typing(alice.address, True)
    await bob.send_typing(alice.address, False)
    assert await alice.fetch() == []  # indicators are not messages
    assert seen == [(bob.address, True), (bob.address, False)]
    stale = TypingContent("old-typing", True, int(time.time() * 1000) - 60_000)
    await bob._outgoing.transmit(stale.message_id, alice.address, stale.encode(), own_copies=False)
    await alice.fetch()
    assert seen == [(bob.address, True), (bob.address, False)]
    with pytest.raises(InvalidMessage, match="started"):
        decode_payload(json.dumps({**json.loads(stale.encode()), "started": "yes"}).encode())
