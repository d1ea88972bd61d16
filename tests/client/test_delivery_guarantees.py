"""At-least-once delivery made exactly-once: crashes, lost answers, restarts, races.

A message is acknowledged only after its session state, history entry, consumed
prekeys and dedup mark are committed together; these tests break the process
or the network at each step in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import NetworkError
from sottovoce.client.prekey_store import ONE_TIME
from tests.client.conftest import MakeClient, profile_of
from tests.client.relay_db import inject_envelope, queued_bodies
from tests.support.live_server import LiveServer
from tests.support.waiting import take

Request = Callable[..., Awaitable[dict[str, Any]]]


def client_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the SDK warned about: a dropped or undecryptable message shows up here."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("sottovoce.client") and r.levelno >= logging.WARNING
    ]


class PowerCut(BaseException):
    """The process dies at this point: no handler in the SDK may swallow it."""


def intercept(
    monkeypatch: pytest.MonkeyPatch,
    client: Client,
    around: Callable[[Request, str, str, Any], Awaitable[dict[str, Any]]],
) -> None:
    """Route every request of ``client`` through ``around(original, method, path, payload)``."""
    original: Request = client._transport.request

    async def request(method: str, path: str, payload: Any = None) -> dict[str, Any]:
        return await around(original, method, path, payload)

    monkeypatch.setattr(client._transport, "request", request)


async def test_crash_after_commit_before_ack_neither_loses_nor_duplicates(
    make_client: MakeClient,
    live_server_module: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "exactly once")

    async def die_on_ack(original: Request, method: str, path: str, payload: Any) -> Any:
        if path == "/v1/messages/ack":
            raise PowerCut
        return await original(method, path, payload)

    intercept(monkeypatch, bob, die_on_ack)
    with pytest.raises(PowerCut):
        await bob.fetch()
    await bob.close()
    assert len(queued_bodies(live_server_module.db_path, bob.address)) == 1  # never acknowledged

    async with await Client.open(profile_of(tmp_path, bob.address)) as bob_again:
        assert await bob_again.fetch() == []  # redelivered, recognised, acknowledged
        assert client_warnings(caplog) == []  # by its dedup mark, without decrypting again
        assert queued_bodies(live_server_module.db_path, bob.address) == []
        assert [e.text for e in bob_again.history(alice.address)] == ["exactly once"]
        await alice.send(bob.address, "the session still works")
        assert [m.text for m in await bob_again.fetch()] == ["the session still works"]


async def test_crash_before_commit_decrypts_again_with_the_same_keys(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    one_time_before = len(bob._store.all(ONE_TIME))
    await alice.send(bob.address, "first contact")  # a PreKey message using a one-time key

    def die_while_storing(*args: object) -> None:
        raise PowerCut

    monkeypatch.setattr(bob._history, "record", die_while_storing)
    with pytest.raises(PowerCut):
        await bob.fetch()
    # Rolled back as one: no session, no dedup mark, the one-time prekey still there.
    assert len(bob._store.all(ONE_TIME)) == one_time_before
    assert bob._store.all("session") == []
    await bob.close()

    async with await Client.open(profile_of(tmp_path, bob.address)) as bob_again:
        assert [m.text for m in await bob_again.fetch()] == ["first contact"]
        assert len(bob_again._store.all(ONE_TIME)) == one_time_before - 1  # consumed now
        assert [e.text for e in bob_again.history(alice.address)] == ["first contact"]
        await bob_again.send(alice.address, "got it")
    assert [m.text for m in await alice.fetch()] == ["got it"]


async def test_a_lost_answer_is_retried_with_the_same_message_id(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    answers: list[dict[str, Any]] = []

    async def lose_first_answer(original: Request, method: str, path: str, payload: Any) -> Any:
        answer = await original(method, path, payload)
        if path == "/v1/messages":
            answers.append(answer)
            if len(answers) == 1:
                raise NetworkError("the connection dropped before the answer arrived")
        return answer

    intercept(monkeypatch, alice, lose_first_answer)
    sent = await alice.send(bob.address, "said once")
    assert [a["message_id"] for a in answers] == [sent.message_id] * 2
    assert [a["duplicate"] for a in answers] == [False, True]
    assert [m.text for m in await bob.fetch()] == ["said once"]
    assert [e.text for e in alice.history(bob.address)] == ["said once"]


async def test_a_retry_after_the_recipient_acknowledged_is_still_shown_once(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The relay forgets a message once acknowledged, so a late retry is stored anew;
    the recipient's dedup mark keeps it from appearing twice."""
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    shown: list[str] = []

    async def recipient_reads_before_retry(
        original: Request, method: str, path: str, payload: Any
    ) -> Any:
        answer = await original(method, path, payload)
        if path == "/v1/messages" and not shown:
            shown.extend(m.text for m in await bob.fetch())
            raise NetworkError("the connection dropped before the answer arrived")
        return answer

    intercept(monkeypatch, alice, recipient_reads_before_retry)
    await alice.send(bob.address, "only once")
    assert shown == ["only once"]
    assert await bob.fetch() == []
    assert client_warnings(caplog) == []  # recognised by its id, not by failing to decrypt


async def test_sending_rides_out_a_short_server_outage(
    make_client_alone: MakeClient, live_server: LiveServer
) -> None:
    alice = await make_client_alone("alice", "chat")
    bob = await make_client_alone("bob", "photos")
    await alice.send(bob.address, "before")
    await bob.fetch()
    live_server.stop()
    sending = asyncio.create_task(alice.send(bob.address, "during the outage"))
    await asyncio.sleep(0.6)  # the first attempts fail
    assert not sending.done()
    live_server.start()
    await asyncio.wait_for(sending, 30)
    assert [m.text for m in await bob.fetch()] == ["during the outage"]


async def test_a_server_restart_mid_conversation_loses_nothing(
    make_client_alone: MakeClient, live_server: LiveServer
) -> None:
    alice = await make_client_alone("alice", "chat")
    bob = await make_client_alone("bob", "photos")
    await alice.send(bob.address, "one")
    assert [m.text for m in await bob.fetch()] == ["one"]
    await bob.send(alice.address, "two")  # alice has not fetched it yet
    await alice.send(bob.address, "three")  # nor bob this one
    live_server.stop()
    live_server.start()
    assert [m.text for m in await alice.fetch()] == ["two"]
    assert [m.text for m in await bob.fetch()] == ["three"]
    await bob.send(alice.address, "four")
    assert [m.text for m in await alice.fetch()] == ["four"]
    live_server.stop()
    with pytest.raises(NetworkError, match="cannot reach"):
        await alice.fetch()


async def test_listen_reconnects_after_a_server_restart(
    make_client_alone: MakeClient, live_server: LiveServer
) -> None:
    alice = await make_client_alone("alice", "chat")
    bob = await make_client_alone("bob", "photos")
    async with aclosing(bob.listen()) as stream:
        await alice.send(bob.address, "before the restart")
        assert [m.text for m in await take(stream, 1)] == ["before the restart"]
        live_server.stop()
        live_server.start()
        await alice.send(bob.address, "after the restart")
        assert [m.text for m in await take(stream, 1, timeout_s=40)] == ["after the restart"]
    assert await bob.fetch() == []
    assert [e.text for e in bob.history(alice.address)] == [
        "before the restart",
        "after the restart",
    ]


async def test_simultaneous_conversations_in_both_directions_lose_nothing(
    make_client: MakeClient,
) -> None:
    """Both sides send first at the same time (two PQXDH runs cross) while listening:
    sessions must converge and every message must decrypt, in order per sender."""
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    count = 8

    async def talk(client: Client, peer: str, prefix: str) -> None:
        for i in range(count):
            await client.send(peer, f"{prefix} {i}")
            await asyncio.sleep(0)

    async with aclosing(alice.listen()) as to_alice, aclosing(bob.listen()) as to_bob:
        alice_gets = asyncio.create_task(take(to_alice, count))
        bob_gets = asyncio.create_task(take(to_bob, count))
        await asyncio.gather(talk(alice, bob.address, "a"), talk(bob, alice.address, "b"))
        assert [m.text for m in await bob_gets] == [f"a {i}" for i in range(count)]
        assert [m.text for m in await alice_gets] == [f"b {i}" for i in range(count)]
    await alice.send(bob.address, "settled")
    await bob.send(alice.address, "settled too")
    assert [m.text for m in await bob.fetch()] == ["settled"]
    assert [m.text for m in await alice.fetch()] == ["settled too"]


async def test_forged_malformed_and_replayed_envelopes_are_dropped(
    make_client: MakeClient, live_server_module: LiveServer
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "genuine")
    ((_, kind, body),) = queued_bodies(live_server_module.db_path, bob.address)
    assert [m.text for m in await bob.fetch()] == ["genuine"]
    db = live_server_module.db_path
    # A replay of the delivered ciphertext under a fresh id, a PreKey message that
    # is noise, a body of an unknown wire version, and a sender that does not exist.
    inject_envelope(db, bob.address, sender=alice.address, message_id="r1", kind=kind, body=body)
    inject_envelope(
        db, bob.address, sender=alice.address, message_id="r2", kind="prekey", body=b"\x01\x02" * 99
    )
    inject_envelope(
        db, bob.address, sender=alice.address, message_id="r3", kind="message", body=b"\x07"
    )
    inject_envelope(db, bob.address, sender="ghost@chat", message_id="r4", kind=kind, body=body)
    await alice.send(bob.address, "still flowing")
    assert [m.text for m in await bob.fetch()] == ["still flowing"]
    assert queued_bodies(db, bob.address) == []  # dropped ones are acknowledged, not retried
    assert [e.text for e in bob.history(alice.address)] == ["genuine", "still flowing"]


async def test_fetch_acknowledges_only_what_it_stored(
    make_client: MakeClient, live_server_module: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the server becomes unreachable midway, stored messages are returned and
    acknowledged; the rest stays queued and arrives on the next fetch."""
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    carol = await make_client("carol", "chat")
    await alice.send(bob.address, "from alice")
    await carol.send(bob.address, "from carol")

    async def carol_lookup_fails(original: Request, method: str, path: str, payload: Any) -> Any:
        if path == f"/v1/accounts/chat/{carol.address.removesuffix('@chat')}":
            raise NetworkError("the server went away")
        return await original(method, path, payload)

    intercept(monkeypatch, bob, carol_lookup_fails)
    assert [m.text for m in await bob.fetch()] == ["from alice"]
    assert len(queued_bodies(live_server_module.db_path, bob.address)) == 1  # carol's waits
    with pytest.raises(NetworkError):
        await bob.fetch()  # nothing new could be stored: the error is reported
    monkeypatch.undo()
    assert [m.text for m in await bob.fetch()] == ["from carol"]
