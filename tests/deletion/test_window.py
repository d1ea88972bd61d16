"""Delete for everyone works only within its window (``deletion.DELETE_FOR_EVERYONE_S``):
the sender's device refuses later, while a timely one removes the message. What the
recipient's device judges it on, the server's clock, is in test_server_clock.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import sottovoce.client.client as client_module
from sottovoce.client import Client
from sottovoce.client.deletion import DELETE_FOR_EVERYONE_S
from sottovoce.client.errors import ClientError
from tests.support.live_server import LiveServer
from tests.support.people import two_people


@pytest.fixture
async def pair(server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    async with two_people(server.url, tmp_path) as people:
        yield people


def _texts(client: Client, peer: str) -> list[str]:
    return [e.text for e in client.history(peer)]


async def test_delete_for_everyone_only_within_the_window(
    pair: tuple[Client, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = pair
    sent = await alice.send(bob.address, "said a day and a minute ago")
    await bob.fetch()
    assert _texts(bob, alice.address) == ["said a day and a minute ago"]

    # A day and a minute later, Alice's device refuses, and nothing is sent.
    now = client_module._now_ms
    monkeypatch.setattr(
        client_module, "_now_ms", lambda: now() + (DELETE_FOR_EVERYONE_S + 60) * 1000
    )
    with pytest.raises(ClientError, match="within 24 hours"):
        await alice.delete_for_everyone(bob.address, sent.message_id)
    monkeypatch.undo()
    assert _texts(alice, bob.address) == ["said a day and a minute ago"]
    assert await bob.fetch() == []

    # Within the window (on Alice's clock and on the server's), it goes.
    await alice.delete_for_everyone(bob.address, sent.message_id)
    await bob.fetch()
    assert _texts(bob, alice.address) == [] and _texts(alice, bob.address) == []
