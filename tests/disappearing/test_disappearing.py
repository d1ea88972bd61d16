"""Disappearing messages: the timer travels in the message; expired messages and their
attachments leave both people's stores."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.content import TextContent, decode_content
from sottovoce.client.errors import ClientError, InvalidMessage
from tests.support.live_server import LiveServer
from tests.support.people import two_people


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def pair(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    async with two_people(live_server.url, tmp_path) as people:
        yield people


async def test_expired_messages_and_attachments_leave_both_stores(
    pair: tuple[Client, Client],
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "before the timer")
    await alice.set_disappearing_timer(bob.address, 300)
    pointer = await alice.upload_attachment(_one(b"secret picture"), 14, "p.png", "image/png")
    await alice.send(bob.address, "gone in five minutes", attachment=pointer)
    start = int(time.time() * 1000)
    assert len(await bob.fetch()) == 2
    assert bob.disappearing_timer(alice.address) == 300  # it travelled with the message
    kept, doomed = bob.history(alice.address)
    assert kept.expires_at is None and doomed.expires_at is not None
    assert doomed.attachment is not None
    downloaded = await bob.download_attachment(doomed.attachment)
    assert downloaded.exists()

    assert bob.expire_messages(start + 290_000) == []
    for client, peer in ((alice, bob.address), (bob, alice.address)):
        gone = client.expire_messages(start + 310_000)
        assert [g.message_id for g in gone] == [doomed.message_id]
        assert [e.text for e in client.history(peer)] == ["before the timer"]
    assert not downloaded.exists()
    (conversation,) = [c for c in bob.conversations() if c.peer == alice.address]
    assert conversation.last_text == "before the timer"
    assert bob.search("five minutes") == []

    # Turning it off travels the same way.
    await bob.set_disappearing_timer(alice.address, 0)
    await bob.send(alice.address, "timer off")
    await alice.fetch()
    assert alice.disappearing_timer(bob.address) == 0


async def test_only_the_offered_timers_are_accepted(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    with pytest.raises(ClientError, match="disappearing timer"):
        await alice.set_disappearing_timer(bob.address, 7)
    payload = json.loads(TextContent("m1", "hi", 1, timer_s=300).encode())
    assert decode_content(json.dumps(payload).encode()).timer_s == 300
    for bad in (7, -300, True, "300", 10**12):
        with pytest.raises(InvalidMessage, match="timer"):
            decode_content(json.dumps({**payload, "timer": bad}).encode())
