"""Delete for everyone works only within its window (``deletion.DELETE_FOR_EVERYONE_S``):
the sender's device refuses later, and a recipient's device ignores a deletion
dated after it, while one dated inside it removes the message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import sottovoce.client.client as client_module
from sottovoce.client import Client
from sottovoce.client.content import DeleteContent
from sottovoce.client.deletion import DELETE_FOR_EVERYONE_S
from sottovoce.client.errors import ClientError
from sottovoce.client.message_id import new_message_id
from tests.support.live_server import LiveServer
from tests.support.people import two_people


@pytest.fixture
async def pair(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    async with two_people(live_server.url, tmp_path) as people:
        yield people


def _texts(client: Client, peer: str) -> list[str]:
    return [e.text for e in client.history(peer)]


async def test_delete_for_everyone_only_within_the_window(
    pair: tuple[Client, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = pair
    sent = await alice.send(bob.address, "said a day and a minute ago")
    await bob.fetch()
    (received,) = bob.history(alice.address)
    sent_ms = int(received.timestamp.timestamp() * 1000)

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

    # A deletion crafted with a date past the window is ignored by Bob's device...
    for after_s in (DELETE_FOR_EVERYONE_S + 1, -1):  # too late, or before the message
        late = DeleteContent(new_message_id(), sent.message_id, sent_ms + after_s * 1000)
        await alice._transmit(late.message_id, bob.address, late.encode(), own_copies=False)
        await bob.fetch()
        assert _texts(bob, alice.address) == ["said a day and a minute ago"]
    # ...and one dated inside it removes the message.
    inside = DeleteContent(new_message_id(), sent.message_id, sent_ms + 3_600_000)
    await alice._transmit(inside.message_id, bob.address, inside.encode(), own_copies=False)
    await bob.fetch()
    assert _texts(bob, alice.address) == []
