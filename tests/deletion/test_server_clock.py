"""Delete for everyone is judged on the server's clock: the ``server_ts`` the server
stamped on the message's envelope and on the deletion's, never the dates the
sender's device wrote into them. A modified client that dates its deletion a
second after an old message withdraws nothing; an honest, timely one still works,
in one-to-one chats and in groups, whatever the sender's clock says.

The window is shortened to a few seconds for the "too late" cases (the real
server stamps real times; waiting a day is not an option), and left at its 24
hours for the timely ones."""

from __future__ import annotations

import asyncio
import time

import pytest

from sottovoce.client import Client, deletion
from sottovoce.client.content import DeleteContent
from sottovoce.client.errors import ClientError
from sottovoce.client.group_chat import history_peer
from sottovoce.client.message_id import new_message_id
from tests.deletion.conftest import GROUP

# The shortened window, and how long "too late" waits: past it on any clock.
SHORT_WINDOW_S = 2
PAST_IT_S = SHORT_WINDOW_S + 1.5
DAY_MS = 24 * 3_600_000


def _texts(client: Client, peer: str) -> list[str]:
    return [e.text for e in client.history(peer)]


def _group_texts(client: Client) -> list[str]:
    return [m.text for m in client.groups.history(GROUP)]


def _stored(client: Client, peer: str, message_id: str) -> dict[str, object]:
    """The raw history entry ``client`` keeps for a message."""
    rows = client._store.history_page(peer, 100, None)
    (entry,) = [e for _, e in rows if e.get("id") == message_id]
    return entry


async def _forge(alice: Client, bob: Client, target: str, dated_ms: int) -> None:
    """What a modified client can send: a deletion carrying any date it likes."""
    forged = DeleteContent(new_message_id(), target, dated_ms)
    await alice._outgoing.transmit(
        forged.message_id, bob.address, forged.encode(), own_copies=False
    )


async def test_a_deletion_dated_in_time_but_sent_too_late_is_ignored(
    people: tuple[Client, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = people
    monkeypatch.setattr(deletion, "DELETE_FOR_EVERYONE_S", SHORT_WINDOW_S)
    old = await alice.send(bob.address, "said long ago")
    await bob.fetch()
    entry = _stored(bob, alice.address, old.message_id)
    # Bob's device kept when the server stored it, beside the date Alice wrote.
    assert isinstance(entry["sts"], int) and abs(entry["sts"] - time.time() * 1000) < 60_000
    await asyncio.sleep(PAST_IT_S)

    # Alice's own device says no...
    with pytest.raises(ClientError, match="deleted for everyone within"):
        await alice.delete_for_everyone(bob.address, old.message_id)
    # ...and a deletion dated one second after the message, which the sender's
    # dates alone would let through, leaves Bob's copy where it is.
    await _forge(alice, bob, old.message_id, int(str(entry["ts"])) + 1000)
    assert await bob.fetch() == []
    assert _texts(bob, alice.address) == ["said long ago"]


async def test_a_timely_deletion_works_whatever_the_senders_clock_says(
    people: tuple[Client, Client],
) -> None:
    alice, bob = people
    first = await alice.send(bob.address, "oops")
    second = await alice.send(bob.address, "oops again")
    third = await alice.send(bob.address, "this stays")
    await bob.fetch()

    # The honest way.
    await alice.delete_for_everyone(bob.address, first.message_id)
    await bob.fetch()
    assert _texts(bob, alice.address) == ["oops again", "this stays"]
    # A sender whose clock runs two days ahead dates its deletion outside the
    # window; the server stored it seconds after the message, so it counts.
    sent_ms = int(str(_stored(bob, alice.address, second.message_id)["ts"]))
    await _forge(alice, bob, second.message_id, sent_ms + 2 * DAY_MS)
    await bob.fetch()
    assert _texts(bob, alice.address) == ["this stays"]
    # Still only the sender's own messages: Bob's reply is not Alice's to withdraw.
    await bob.accept_request(alice.address)
    reply = await bob.send(alice.address, "bob's reply")
    await alice.fetch()
    await _forge(alice, bob, reply.message_id, int(time.time() * 1000))
    await bob.fetch()
    assert _texts(bob, alice.address) == ["this stays", "bob's reply"]
    assert third.message_id in [e.message_id for e in bob.history(alice.address)]


async def test_in_a_group_a_late_deletion_is_ignored_and_a_timely_one_works(
    group_of_two: tuple[Client, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = group_of_two
    group_id = alice.groups.info(GROUP).group_id
    old = await alice.groups.send(GROUP, "said long ago")
    await bob.fetch()
    entry = _stored(bob, history_peer(group_id), old.message_id)
    assert isinstance(entry["sts"], int)

    with monkeypatch.context() as short:
        short.setattr(deletion, "DELETE_FOR_EVERYONE_S", SHORT_WINDOW_S)
        await asyncio.sleep(PAST_IT_S)
        with pytest.raises(ClientError, match="deleted for everyone within"):
            await alice.groups.delete_for_everyone(GROUP, old.message_id)
        forged = DeleteContent(new_message_id(), old.message_id, int(str(entry["ts"])) + 1000)
        await alice.groups._send_payload(group_id, forged.encode(), counts=False)
        await bob.fetch()
        assert _group_texts(bob) == ["said long ago"]

    # With the real window, the same message is still Alice's to withdraw.
    await alice.groups.delete_for_everyone(GROUP, old.message_id)
    await bob.fetch()
    assert _group_texts(alice) == [] and _group_texts(bob) == []
    # And one dated two days ahead by a fast clock, stored at once, counts too.
    fresh = await alice.groups.send(GROUP, "sent just now")
    await bob.fetch()
    skewed = DeleteContent(new_message_id(), fresh.message_id, int(time.time() * 1000) + 2 * DAY_MS)
    await alice.groups._send_payload(group_id, skewed.encode(), counts=False)
    await bob.fetch()
    assert _group_texts(bob) == []


def test_an_entry_kept_before_server_times_falls_back_on_the_senders_date() -> None:
    now = int(time.time() * 1000)
    hour = 3_600_000
    # Judged on the server's times when the entry has one...
    assert deletion.withdrawable({"ts": now - 30 * DAY_MS, "sts": now - hour}, now)
    assert not deletion.withdrawable({"ts": now - hour, "sts": now - 8 * DAY_MS}, now)
    # ...on the sender's date of the message otherwise, still against the server's
    # date of the deletion; anything unusable withdraws nothing.
    assert deletion.withdrawable({"ts": now - hour}, now)
    assert not deletion.withdrawable({"ts": now - 2 * DAY_MS}, now)
    assert not deletion.withdrawable({"ts": now + hour}, now)
    for broken in ({}, {"sts": "soon"}, {"ts": now, "sts": True}):
        assert not deletion.withdrawable(broken, now)
    assert not deletion.withdrawable({"ts": now, "sts": now}, 0)
