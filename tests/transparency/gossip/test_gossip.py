"""Contacts gossip the tree heads they verified, inside their encrypted messages.

The server is the real one as a real process (``split_view_server``), honest
until a test shows one person a second log signed with the real log key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest

from sottovoce.client import Client
from sottovoce.client.auditor import ForkedView, LogAuditor
from sottovoce.client.content import MAX_CONTENT_LEN, TextContent
from sottovoce.client.head_gossip import HEAD_FIELD_CHARS, MalformedGossip
from sottovoce.client.message_id import new_message_id
from sottovoce.protocol.public.tree_head import SignedTreeHead, parse_signed_tree_head
from tests.support.people import MakeClient
from tests.transparency.gossip.conftest import SplitViewProcess


def head_of(client: Client) -> SignedTreeHead:
    head = client._kt.latest_head()
    assert head is not None
    return head


def log_forks(client: Client) -> list[tuple[str, tuple[bytes, ...]]]:
    return [(a.address, a.evidence) for a in client.security_alerts() if a.kind == "log-fork"]


async def texts(client: Client) -> list[str]:
    return [m.text for m in await client.fetch()]


async def wait_for_size(client: Client, size: int) -> None:
    """Sync ``client`` until its head covers ``size`` entries (an epoch is 0.5 s)."""
    for _ in range(100):
        await client._kt.sync()
        if head_of(client).tree_size >= size:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no head covering {size} entries")


async def test_two_contacts_converge_on_the_newest_head(make_client: MakeClient) -> None:
    """bob's message carries a head newer than alice's: alice, live on the WebSocket and
    never fetching, catches up to it by herself; and nothing rides along once both
    know the other holds it."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    received: asyncio.Queue[str] = asyncio.Queue()

    async def listen() -> None:
        async for message in alice.listen():
            await received.put(message.text)

    listening = asyncio.create_task(listen())
    try:
        await bob.send(alice.address, "ping")
        assert await asyncio.wait_for(received.get(), 10) == "ping"
        before = head_of(alice)
        # The log grows (carol joins) and bob follows it; alice does not look.
        await make_client("carol")
        await wait_for_size(bob, before.tree_size + 2)
        news = head_of(bob)
        assert news.epoch > head_of(alice).epoch
        await bob.send(alice.address, "news")
        assert await asyncio.wait_for(received.get(), 10) == "news"
        assert head_of(alice) == news  # caught up through the gossiped head
        assert log_forks(alice) == []
        # Both know the other holds the head: the next messages carry none.
        assert bob._gossip.outgoing(alice.address) is None
        assert alice._gossip.outgoing(bob.address) is None
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_a_head_rides_only_when_it_tells_the_contact_something_new(
    make_client: MakeClient,
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "first")  # alice looked bob up: she holds a head
    assert alice._gossip.outgoing(bob.address) is None  # ...and sent it with "first"
    assert await texts(bob) == ["first"]
    # bob's fetch synced him to the newest head, alice's is that one or older: bob tells
    # her only if his is newer.
    tell = bob._gossip.outgoing(alice.address)
    assert (tell is not None) == (head_of(bob).epoch > head_of(alice).epoch)
    await bob.send(alice.address, "second")
    assert await texts(alice) == ["second"]
    assert head_of(alice).epoch >= head_of(bob).epoch
    assert log_forks(alice) == log_forks(bob) == []


async def test_a_split_view_from_the_start_is_exposed_by_gossip(
    split_server: SplitViewProcess, make_client: MakeClient
) -> None:
    """The server shows alice, from her very first sync, a log of its own in which
    carol's key is the server's; that log is consistent in itself, so alice's own
    checks pass. The first message between alice and bob exposes it, to both."""
    carol = await make_client("carol")
    bob = await make_client("bob", "photos")
    alice = await make_client("alice")
    split_server.split(victim=alice.address, target=carol.address)
    await alice.send(bob.address, "hello bob")  # alice's view passes her own checks
    assert alice.security_alerts() == []
    forked = head_of(alice)

    assert await texts(bob) == ["hello bob"]  # the message shows
    [(about, evidence)] = log_forks(bob)
    assert about == alice.address
    honest = head_of(bob)
    assert set(evidence) == {honest.to_bytes(), forked.to_bytes()}
    heads = [parse_signed_tree_head(e, split_server.log_key) for e in evidence]
    assert len({(h.tree_size, h.root_hash) for h in heads}) == 2  # two signed histories
    bob.dismiss_alerts(bob.security_alerts())  # shown once, as the CLI does
    assert [a.evidence for a in bob.alert_evidence()] == [evidence]

    gossiped = head_of(bob)  # what rides along with bob's reply
    await bob.send(alice.address, "hello alice")
    assert await texts(alice) == ["hello alice"]
    [(about, evidence)] = log_forks(alice)
    assert about == bob.address
    # alice's own head, perhaps of a later epoch of her fork by now, against bob's.
    assert set(evidence) == {head_of(alice).to_bytes(), gossiped.to_bytes()}


async def test_malformed_or_oversized_gossip_is_refused_and_the_message_shows(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await bob.send(alice.address, "hi")
    assert await texts(alice) == ["hi"]
    genuine = head_of(bob).to_bytes()
    forged = bytearray(genuine)
    forged[-1] ^= 1  # the signature no longer verifies

    bad: dict[str, object] = {
        "not a string": 7,
        "too short": "AAAA",
        "oversized": "A" * (HEAD_FIELD_CHARS * 40),
        "not base64": "*" * HEAD_FIELD_CHARS,
        "bad signature": base64.b64encode(bytes(forged)).decode(),
    }
    caplog.set_level(logging.WARNING)
    for text, sth in bad.items():
        message_id = new_message_id()
        payload = {"v": 1, "kind": "text", "id": message_id, "text": text, "sent_at": 1, "sth": sth}
        await bob._transmit(
            message_id, alice.address, json.dumps(payload).encode(), own_copies=False
        )
    assert await texts(alice) == list(bad)
    assert alice.security_alerts() == []
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "is not a string" in warnings
    assert "characters, a head is" in warnings
    assert "not standard base64" in warnings
    assert "signature does not verify" in warnings


@pytest.fixture
async def auditor(split_server: SplitViewProcess) -> AsyncIterator[LogAuditor]:
    watcher = LogAuditor(split_server.url)
    yield watcher
    await watcher.close()


async def test_an_auditor_compares_heads_gossiped_to_it(
    split_server: SplitViewProcess, make_client: MakeClient, auditor: LogAuditor
) -> None:
    carol = await make_client("carol")
    bob = await make_client("bob", "photos")
    alice = await make_client("alice")
    split_server.split(victim=alice.address, target=carol.address)
    await alice._kt.sync()
    await bob._kt.sync()
    await auditor.check()
    await auditor.compare(head_of(bob).to_bytes())  # one log
    with pytest.raises(ForkedView) as fork:
        await auditor.compare(head_of(alice).to_bytes())
    assert head_of(alice).to_bytes() in fork.value.evidence
    with pytest.raises(MalformedGossip, match="must be 125 bytes"):
        await auditor.compare(b"not a head")


async def test_a_message_too_large_for_a_head_goes_without_it(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice._kt.sync()
    sample = TextContent(new_message_id(), "x", int(time.time() * 1000))
    largest = "x" * (MAX_CONTENT_LEN - len(sample.encode()) + 1)
    assert alice._gossip.outgoing(bob.address) is not None
    await alice.send(bob.address, largest)
    assert await texts(bob) == [largest]
    assert alice._gossip.outgoing(bob.address) is not None  # still to tell bob
    await alice.send(bob.address, "small")
    assert alice._gossip.outgoing(bob.address) is None
    assert await texts(bob) == ["small"]
