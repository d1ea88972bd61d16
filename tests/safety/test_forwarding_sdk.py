"""Forward counts inside the encryption, labels, and the brake on viral chains."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ClientError
from sottovoce.client.forwarding import (
    HIGHLY_FORWARDED,
    MAX_TARGETS_HIGHLY_FORWARDED,
    ForwardLimit,
    label,
)
from tests.safety.sdk import MakeClient, make_client, safety_server

__all__ = ["make_client", "safety_server"]


def test_labels() -> None:
    assert label(0) is None
    assert label(1) == label(HIGHLY_FORWARDED - 1) == "forwarded"
    assert label(HIGHLY_FORWARDED) == label(10**6) == "forwarded many times"


async def _forwarded_along(chain: list[Client], text: str) -> int:
    """Pass ``text`` down ``chain``; the count the last one received."""
    sent = await chain[0].send(chain[1].address, text)
    message_id, count = sent.message_id, 0
    for here, there in itertools.pairwise(chain[1:]):
        [received] = await here.fetch()
        assert received.forwarded == count
        [forwarded] = await here.forward(message_id, [there.address])
        message_id, count = forwarded.message_id, count + 1
    [last] = await chain[-1].fetch()
    assert last.forwarded == count
    return count


async def test_the_count_grows_by_one_each_hop(make_client: MakeClient) -> None:
    chain = [await make_client(f"p{i}") for i in range(4)]
    assert await _forwarded_along(chain, "did you hear?") == 2
    [entry] = chain[-1].history(chain[-2].address)
    assert entry.forwarded == 2
    assert label(entry.forwarded) == "forwarded"


async def test_a_highly_forwarded_message_goes_to_at_most_five_chats(
    make_client: MakeClient,
) -> None:
    chain = [await make_client(f"h{i}") for i in range(HIGHLY_FORWARDED + 2)]
    assert await _forwarded_along(chain, "share this with everyone") == HIGHLY_FORWARDED
    holder = chain[-1]
    [entry] = holder.history(chain[-2].address)
    assert label(entry.forwarded) == "forwarded many times"
    targets = [await make_client(f"t{i}") for i in range(MAX_TARGETS_HIGHLY_FORWARDED + 1)]
    with pytest.raises(ForwardLimit):
        await holder.forward(entry.message_id, [t.address for t in targets])
    for target in targets:
        assert await target.fetch() == []
    sent = await holder.forward(
        entry.message_id, [t.address for t in targets[:MAX_TARGETS_HIGHLY_FORWARDED]]
    )
    assert len(sent) == MAX_TARGETS_HIGHLY_FORWARDED
    [received] = await targets[0].fetch()
    assert received.forwarded == HIGHLY_FORWARDED + 1


async def test_an_ordinary_message_may_go_to_more_chats(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    await alice.send(bob.address, "meeting at 5")
    [received] = await bob.fetch()
    targets = [await make_client(f"o{i}") for i in range(MAX_TARGETS_HIGHLY_FORWARDED + 1)]
    sent = await bob.forward(received.message_id, [t.address for t in targets])
    assert len(sent) == len(targets)


async def test_bad_forwards_are_refused(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    sent = await alice.send(bob.address, "x")
    with pytest.raises(ClientError):
        await alice.forward("no-such-message", [bob.address])
    with pytest.raises(ClientError):
        await alice.forward(sent.message_id, [])
    with pytest.raises(ClientError):
        await alice.forward(sent.message_id, [bob.address, bob.address])


async def test_a_forwarded_attachment_keeps_its_pointer(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    carol = await make_client("carol")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a tiny photo"

    pointer = await alice.upload_attachment(chunks(), 12, "photo.jpg", "image/jpeg")
    await alice.send(bob.address, "look", attachment=pointer)
    [received] = await bob.fetch()
    await bob.forward(received.message_id, [carol.address])
    await carol.fetch()
    [entry] = carol.history(bob.address)
    assert (entry.text, entry.forwarded, entry.attachment) == ("look", 1, pointer)
