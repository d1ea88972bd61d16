"""POST /v1/messages, GET /v1/messages and the acknowledgement that deletes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.relay.device import CIPHERTEXT, Device, assert_problem, body_of, envelope


@pytest.fixture
async def pair(relay: httpx.AsyncClient) -> tuple[Device, Device]:
    alice = await Device(relay, "alice").register()
    bob = await Device(relay, "bob", "photos").register()
    return alice, bob


def queued_rows(db: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT message_id, body FROM queued_messages ORDER BY id").fetchall()
    return [(str(m), bytes(b)) for m, b in rows]


async def test_a_message_is_committed_before_success_is_returned(
    tmp_path: Path, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    response = await alice.send(bob.address, "m-1")
    assert response.status_code == 200, response.text
    assert response.json() == {"message_id": "m-1", "stored": 1, "duplicate": False}
    # Read the database file from outside the server: the row is already there.
    assert queued_rows(tmp_path / "relay.db") == [("m-1", CIPHERTEXT)]


async def test_a_delivered_message_has_the_documented_shape(pair: tuple[Device, Device]) -> None:
    alice, bob = pair
    before = int(time.time() * 1000)
    await alice.send(bob.address, "first", [envelope(kind="prekey", body=b"\x00\xff" * 40)])
    await alice.send(bob.address, "second")
    page = await bob.fetch()
    assert page["more"] is False
    first, second = page["messages"]
    assert set(first) == {
        "id",
        "message_id",
        "sender",
        "sender_device",
        "type",
        "body",
        "server_ts",
        "commitment",
        "franking_tag",
    }
    assert (first["message_id"], first["sender"], first["sender_device"]) == (
        "first",
        alice.address,
        1,
    )
    assert (first["type"], body_of(first)) == ("prekey", b"\x00\xff" * 40)
    assert (second["type"], body_of(second)) == ("message", CIPHERTEXT)
    assert first["id"] < second["id"]
    assert before - 1000 <= first["server_ts"] <= second["server_ts"] <= time.time() * 1000 + 1000


async def test_a_retry_with_the_same_message_id_stores_nothing_new(
    pair: tuple[Device, Device],
) -> None:
    alice, bob = pair
    first = await alice.send(bob.address, "retry-me")
    again = await alice.send(bob.address, "retry-me", [envelope(body=b"different bytes")])
    assert first.json() == {"message_id": "retry-me", "stored": 1, "duplicate": False}
    assert again.json() == {"message_id": "retry-me", "stored": 0, "duplicate": True}
    messages = (await bob.fetch())["messages"]
    assert [(m["message_id"], body_of(m)) for m in messages] == [("retry-me", CIPHERTEXT)]


async def test_message_ids_are_scoped_to_the_sending_device(
    relay: httpx.AsyncClient, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    carol = await Device(relay, "carol").register()
    assert (await alice.send(bob.address, "same-id")).json()["duplicate"] is False
    assert (await carol.send(bob.address, "same-id")).json()["duplicate"] is False
    senders = [m["sender"] for m in (await bob.fetch())["messages"]]
    assert senders == [alice.address, carol.address]


async def test_a_stale_device_set_is_a_conflict_naming_missing_and_extra(
    pair: tuple[Device, Device],
) -> None:
    alice, bob = pair
    problem = assert_problem(await alice.send(bob.address, "s1", [envelope(2)]), 409)
    assert (problem["type"], problem["missing"], problem["extra"]) == ("stale-devices", [1], [2])
    problem = assert_problem(
        await alice.send(bob.address, "s2", [envelope(1), envelope(3), envelope(2)]), 409
    )
    assert (problem["missing"], problem["extra"]) == ([], [2, 3])
    assert (await bob.fetch())["messages"] == []
    # The refusals stored nothing, so the ids are still free.
    assert (await alice.send(bob.address, "s1")).json()["duplicate"] is False


async def test_two_envelopes_for_one_device_are_refused(pair: tuple[Device, Device]) -> None:
    alice, bob = pair
    response = await alice.send(bob.address, "d1", [envelope(1), envelope(1)])
    assert_problem(response, 400, "duplicate-envelope")


async def test_an_unknown_recipient_is_not_found(pair: tuple[Device, Device]) -> None:
    alice, bob = pair
    assert_problem(await alice.send("nobody@photos", "u1"), 404, "unknown-account")
    assert_problem(await alice.send(f"{bob.handle}@chat", "u2"), 404, "unknown-account")
    assert_problem(await alice.send("no-at-sign", "u3"), 400, "malformed-address")


@pytest.mark.parametrize(
    ("message_id", "envelopes"),
    [
        ("", [envelope()]),
        ("a" * 65, [envelope()]),
        ("has space", [envelope()]),
        ("../../etc/passwd", [envelope()]),
        ("ok", []),
        ("ok", [{"device_id": 1, "type": "message", "body": ""}]),
        ("ok", [{"device_id": 0, "type": "message", "body": "AA=="}]),
        ("ok", [{"device_id": 1, "type": "plaintext", "body": "AA=="}]),
        ("ok", [{"device_id": 1, "type": "message"}]),
    ],
)
async def test_invalid_sends_are_refused(
    pair: tuple[Device, Device], message_id: str, envelopes: list[dict[str, object]]
) -> None:
    alice, bob = pair
    assert_problem(await alice.send(bob.address, message_id, envelopes), 422, "malformed-body")
    assert (await bob.fetch())["messages"] == []


async def test_fetch_pages_in_queue_order(pair: tuple[Device, Device]) -> None:
    alice, bob = pair
    for i in range(5):
        await alice.send(bob.address, f"p{i}")
    page = await bob.fetch(limit=2)
    assert ([m["message_id"] for m in page["messages"]], page["more"]) == (["p0", "p1"], True)
    assert await bob.ack([m["id"] for m in page["messages"]]) == 2
    page = await bob.fetch(limit=3)
    assert ([m["message_id"] for m in page["messages"]], page["more"]) == (
        ["p2", "p3", "p4"],
        False,
    )


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "limit=-1"])
async def test_fetch_limits_are_checked(pair: tuple[Device, Device], query: str) -> None:
    _, bob = pair
    assert_problem(await bob.call("GET", f"/v1/messages?{query}"), 422, "malformed-body")


async def test_an_ack_deletes_only_the_devices_own_listed_messages(
    relay: httpx.AsyncClient, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    carol = await Device(relay, "carol").register()
    for i in range(3):
        await alice.send(bob.address, f"b{i}")
    await alice.send(carol.address, "c0")
    bob_ids = [m["id"] for m in (await bob.fetch())["messages"]]
    carol_ids = [m["id"] for m in (await carol.fetch())["messages"]]
    # Someone else's ids, and ids that do not exist, delete nothing.
    assert await carol.ack(bob_ids) == 0
    assert await bob.ack([*carol_ids, 10**9]) == 0
    assert await bob.ack(bob_ids[1:2]) == 1
    assert await bob.ack(bob_ids[1:2]) == 0
    assert [m["message_id"] for m in (await bob.fetch())["messages"]] == ["b0", "b2"]
    assert [m["message_id"] for m in (await carol.fetch())["messages"]] == ["c0"]


@pytest.mark.parametrize(
    "ids", [[0], [-1], [2**63], [2**70], ["1"], [1.5], [True], list(range(1, 502)), "1,2"]
)
async def test_malformed_acks_are_refused(pair: tuple[Device, Device], ids: object) -> None:
    alice, bob = pair
    await alice.send(bob.address, "kept")
    response = await bob.call("POST", "/v1/messages/ack", {"ids": ids})
    assert_problem(response, 422, "malformed-body")
    assert [m["message_id"] for m in (await bob.fetch())["messages"]] == ["kept"]


async def test_concurrent_retries_on_the_real_server_store_one_copy(
    live_http: httpx.AsyncClient,
) -> None:
    alice = await Device(live_http, "alice").register()
    bob = await Device(live_http, "bob").register()
    answers = await asyncio.gather(*(alice.send(bob.address, "burst") for _ in range(12)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 11
    assert [m["message_id"] for m in (await bob.fetch())["messages"]] == ["burst"]
