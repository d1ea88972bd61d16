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
from typer.testing import CliRunner, Result

from sottovoce.cli.main import app
from sottovoce.cli.render import StderrLog
from sottovoce.client import Client
from sottovoce.client.auditor import ForkedView, LogAuditor
from sottovoce.client.content import MAX_CONTENT_LEN, TextContent
from sottovoce.client.group_chat import history_peer
from sottovoce.client.head_gossip import HEAD_FIELD_CHARS, ForeignLogHead, MalformedGossip
from sottovoce.client.message_id import new_message_id
from sottovoce.crypto.signing import SigningKey
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


async def heads_cover(looker: Client, newest: Client) -> None:
    """From now on every head the server signs covers ``newest``'s account and all
    logged before it: a lookup makes the server end the epoch when its head does not
    cover the account yet. A test that shows someone a split view right after making
    the accounts needs it, or the victim's first head may predate the target's key
    entry (an epoch is 0.5 s), and then the forked log and the real one agree."""
    await looker.safety_number(newest.address)


async def split_view(
    split_server: SplitViewProcess, make_client: MakeClient
) -> tuple[Client, Client]:
    """alice, shown a log in which carol's key is the server's, and bob, shown the
    real one; the heads cover every account (:func:`heads_cover`)."""
    carol = await make_client("carol")
    bob = await make_client("bob", "photos")
    alice = await make_client("alice")
    await heads_cover(bob, alice)
    split_server.split(victim=alice.address, target=carol.address)
    return alice, bob


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
    alice, bob = await split_view(split_server, make_client)
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


async def send_raw(sender: Client, recipient: str, text: str, sth: object) -> None:
    """A text whose ``"sth"`` is whatever the test says (a misbehaving client's)."""
    message_id = new_message_id()
    payload = {"v": 1, "kind": "text", "id": message_id, "text": text, "sent_at": 1, "sth": sth}
    await sender._outgoing.transmit(
        message_id, recipient, json.dumps(payload).encode(), own_copies=False
    )


def foreign_head(like: SignedTreeHead) -> str:
    """``like`` as another log's key signs it: a well-formed head of another log."""
    return base64.b64encode(like.head.sign(SigningKey.generate()).to_bytes()).decode()


async def test_malformed_or_oversized_gossip_is_refused_and_the_message_shows(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await bob.send(alice.address, "hi")
    assert await texts(alice) == ["hi"]
    bad: dict[str, object] = {
        "not a string": 7,
        "too short": "AAAA",
        "oversized": "A" * (HEAD_FIELD_CHARS * 40),
        "not base64": "*" * HEAD_FIELD_CHARS,
        "not a head": base64.b64encode(b"SVTX" + head_of(bob).to_bytes()[4:]).decode(),
    }
    caplog.set_level(logging.WARNING)
    for text, sth in bad.items():
        await send_raw(bob, alice.address, text, sth)
    assert await texts(alice) == list(bad)
    assert alice.security_alerts() == []
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "is not a string" in warnings
    assert "characters, a head is" in warnings
    assert "not standard base64" in warnings
    assert "wrong magic" in warnings


async def test_a_head_of_another_log_is_a_foreign_log_alert_once_per_contact(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A well-formed head the pinned log key did not sign is not a parse error: the
    contact's device follows another log (or made the head up). It is a ``foreign-log``
    alert about that contact, once until a head of this log comes from them again;
    the messages show all the same."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await bob.send(alice.address, "hi")
    assert await texts(alice) == ["hi"]
    caplog.set_level(logging.WARNING)
    await send_raw(bob, alice.address, "from another log", foreign_head(head_of(bob)))
    await send_raw(bob, alice.address, "and again", foreign_head(head_of(bob)))
    assert await texts(alice) == ["from another log", "and again"]
    [alert] = alice.security_alerts()
    assert (alert.kind, alert.address, alert.is_attack) == ("foreign-log", bob.address, True)
    assert "Compare safety numbers" in alert.detail
    assert "log key this device pinned did not sign" in caplog.text
    assert log_forks(alice) == []
    alice.dismiss_alerts([alert])

    # A head of this log from bob settles it; another foreign one alerts anew.
    await send_raw(bob, alice.address, "honest", base64.b64encode(head_of(bob).to_bytes()).decode())
    assert await texts(alice) == ["honest"]
    assert alice.security_alerts() == []
    await send_raw(bob, alice.address, "foreign again", foreign_head(head_of(bob)))
    assert await texts(alice) == ["foreign again"]
    assert [a.kind for a in alice.security_alerts()] == ["foreign-log"]


@pytest.fixture
async def auditor(split_server: SplitViewProcess) -> AsyncIterator[LogAuditor]:
    watcher = LogAuditor(split_server.url)
    yield watcher
    await watcher.close()


async def test_an_auditor_compares_heads_gossiped_to_it(
    split_server: SplitViewProcess, make_client: MakeClient, auditor: LogAuditor
) -> None:
    alice, bob = await split_view(split_server, make_client)
    await alice._kt.sync()
    await bob._kt.sync()
    await auditor.check()
    await auditor.compare(head_of(bob).to_bytes())  # one log
    with pytest.raises(ForkedView) as fork:
        await auditor.compare(head_of(alice).to_bytes())
    assert head_of(alice).to_bytes() in fork.value.evidence
    with pytest.raises(MalformedGossip, match="must be 125 bytes"):
        await auditor.compare(b"not a head")
    with pytest.raises(ForeignLogHead, match="a head of another log"):
        await auditor.compare(base64.b64decode(foreign_head(head_of(bob))))


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


async def test_group_texts_gossip_heads_and_expose_a_split_view(
    split_server: SplitViewProcess, make_client: MakeClient
) -> None:
    """alice and bob share only a group: its texts carry heads as one-to-one texts do,
    once per group per change of the sender's view, and expose alice's split view."""
    alice, bob = await split_view(split_server, make_client)
    await alice.groups.create("split")
    info = await alice.groups.add("split", bob.address)
    told = history_peer(info.group_id)
    forked = head_of(alice)
    assert alice._gossip.outgoing(told) == forked.to_bytes()
    await alice.groups.send("split", "hello group")
    assert alice._gossip.outgoing(told) is None  # the group was told this head
    await bob.fetch()
    [(about, evidence)] = log_forks(bob)
    assert about == alice.address
    assert set(evidence) == {head_of(bob).to_bytes(), forked.to_bytes()}
    assert alice.security_alerts() == []


def b64(head: SignedTreeHead) -> str:
    return base64.b64encode(head.to_bytes()).decode()


def cli(args: list[str]) -> Result:
    """``sottovoce ARGS…`` in-process, leaving the SDK's logger as it was (the CLI adds
    a stderr handler to it) for the tests that follow in this worker."""
    logger = logging.getLogger("sottovoce")
    try:
        return CliRunner().invoke(app, args)
    finally:
        for handler in [h for h in logger.handlers if isinstance(h, StderrLog)]:
            logger.removeHandler(handler)


async def test_the_audit_command_compares_heads_and_shows_a_fork(
    split_server: SplitViewProcess, make_client: MakeClient
) -> None:
    """``sottovoce audit --compare``: bob's head is of the log the auditor follows,
    alice's (shown a split view) is not, and the fork's two heads are printed."""
    alice, bob = await split_view(split_server, make_client)
    await alice._kt.sync()
    await bob._kt.sync()
    args = ["audit", "--server", split_server.url, "--rounds", "1", "--interval", "0"]
    compare = ["--compare", b64(head_of(bob)), "--compare", b64(head_of(alice))]
    result = await asyncio.to_thread(cli, [*args, *compare])
    assert result.exit_code == 1, result.output
    assert "head 1: one log with this auditor's view" in result.stdout
    assert "head 2: FORK: the head epoch" in result.stdout
    assert f"evidence {b64(head_of(alice))}" in result.stdout
    assert result.stderr.startswith("error: 1 of 2 head(s) are not of the log")
