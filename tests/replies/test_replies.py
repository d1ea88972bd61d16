"""Replies carry a quote of the message they answer, inside the encryption."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.content import MAX_QUOTE_CHARS, Quote, TextContent, decode_content
from sottovoce.client.errors import ClientError, InvalidMessage
from tests.support.live_server import LiveServer
from tests.support.people import two_people


@pytest.fixture
async def pair(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    async with two_people(live_server.url, tmp_path) as people:
        yield people


async def test_a_reply_quotes_its_message_on_both_sides(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    long_text = "dinner at eight? " * 30
    question = await alice.send(bob.address, long_text)
    await bob.fetch()
    await bob.send(alice.address, "yes!", reply_to=question.message_id)
    await alice.fetch()
    for client, peer, author in (
        (alice, bob.address, alice.address),
        (bob, alice.address, alice.address),
    ):
        reply = client.history(peer)[-1]
        assert reply.text == "yes!"
        assert reply.quote == Quote(question.message_id, author, long_text[:MAX_QUOTE_CHARS])
    with pytest.raises(ClientError, match="to reply to"):
        await bob.send(alice.address, "?", reply_to="no-such-message")


def test_hostile_quotes_are_refused() -> None:
    good = json.loads(TextContent("m2", "yes", 1, quote=Quote("m1", "a@chat", "q")).encode())
    assert decode_content(json.dumps(good).encode()).quote == Quote("m1", "a@chat", "q")
    for bad in (
        {"id": "m1"},
        {"id": "../", "author": "a", "text": ""},
        "m1",
        {"id": "m1", "author": "a", "text": "x" * (MAX_QUOTE_CHARS + 1)},
    ):
        with pytest.raises(InvalidMessage, match="quote"):
            decode_content(json.dumps({**good, "quote": bad}).encode())
