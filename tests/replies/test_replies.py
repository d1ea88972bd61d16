"""Replies carry a quote of the message they answer, inside the encryption."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.content import MAX_QUOTE_CHARS, Quote, TextContent, decode_content
from sottovoce.client.errors import ClientError, InvalidMessage
from sottovoce.crypto.password import Argon2Parameters
from tests.support.live_server import LiveServer

FAST_ARGON2 = Argon2Parameters(memory_kib=8192, iterations=1, lanes=1)


@pytest.fixture
async def pair(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    tag = secrets.token_hex(3)
    alice = await Client.create_account(
        tmp_path / "a", live_server.url, "chat", f"alice-{tag}", passphrase="p", argon2=FAST_ARGON2
    )
    bob = await Client.create_account(
        tmp_path / "b", live_server.url, "photos", f"bob-{tag}", passphrase="p", argon2=FAST_ARGON2
    )
    try:
        yield alice, bob
    finally:
        await alice.close()
        await bob.close()


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
