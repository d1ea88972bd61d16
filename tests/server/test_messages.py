"""Send, fetch and acknowledge over HTTP: one request per message, stored before success."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import insert

from sottovoce.storage.schema import devices
from tests.server.conftest import Relay
from tests.support.device import ACK, MESSAGES, BareDevice, assert_problem, b64


async def fetch(relay: Relay, device: BareDevice, limit: int = 100) -> dict[str, Any]:
    response = await device.call(relay.http, "GET", f"{MESSAGES}?limit={limit}")
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def add_device_2(relay: Relay, device: BareDevice) -> None:
    """Give the account a second device straight in storage (the API has no device
    linking yet), as a changed device list would."""
    account = await relay.state.repo.account(device.app, device.handle)
    assert account is not None
    async with relay.state.repo.engine.begin() as conn:
        await conn.execute(
            insert(devices).values(
                account_id=account.id,
                device_id=2,
                identity=BareDevice().identity.to_bytes(),
                created_day=0,
                last_seen_day=0,
            )
        )


async def test_a_sent_message_is_queued_until_acknowledged(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice(app="photos").register(relay.http)
    send = BareDevice.send_body(bob.address, body=b"\x00\xffopaque")
    answer = (await alice.call(relay.http, "POST", MESSAGES, send)).json()
    assert answer == {"message_id": send["message_id"], "stored": 1, "duplicate": False}

    page = await fetch(relay, bob)
    (message,) = page["messages"]
    assert message["message_id"] == send["message_id"]
    assert (message["sender"], message["sender_device"], message["type"]) == (
        alice.address,
        1,
        "message",
    )
    assert base64.b64decode(message["body"]) == b"\x00\xffopaque"
    assert isinstance(message["server_ts"], int) and message["server_ts"] > 0
    assert page["more"] is False
    # Fetching again is not acknowledging: the message is still there.
    assert len((await fetch(relay, bob))["messages"]) == 1

    # Another device cannot acknowledge bob's messages.
    ack = {"ids": [message["id"]]}
    assert (await alice.call(relay.http, "POST", ACK, ack)).json() == {"deleted": 0}
    assert (await bob.call(relay.http, "POST", ACK, ack)).json() == {"deleted": 1}
    assert (await bob.call(relay.http, "POST", ACK, ack)).json() == {"deleted": 0}
    assert (await fetch(relay, bob))["messages"] == []


async def test_a_retried_send_stores_nothing_new(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    send = BareDevice.send_body(bob.address)
    assert (await alice.call(relay.http, "POST", MESSAGES, send)).json()["duplicate"] is False
    retry = await alice.call(relay.http, "POST", MESSAGES, send)
    assert retry.json() == {"message_id": send["message_id"], "stored": 0, "duplicate": True}
    assert len((await fetch(relay, bob))["messages"]) == 1
    # The id is the sender device's key: another sender may use the same one.
    carol = await BareDevice().register(relay.http)
    assert (await carol.call(relay.http, "POST", MESSAGES, send)).json()["duplicate"] is False
    assert len((await fetch(relay, bob))["messages"]) == 2


async def test_the_device_set_must_match_the_recipients_devices(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    extra = await alice.call(
        relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address, (1, 2))
    )
    problem = assert_problem(extra, 409, "stale-devices")
    assert (problem["missing"], problem["extra"]) == ([], [2])
    wrong = await alice.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address, (3,)))
    problem = assert_problem(wrong, 409, "stale-devices")
    assert (problem["missing"], problem["extra"]) == ([1], [3])
    assert (await fetch(relay, bob))["messages"] == []


async def test_send_errors_name_what_was_wrong(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    unknown = await alice.call(relay.http, "POST", MESSAGES, BareDevice.send_body("nobody@chat"))
    assert_problem(unknown, 404, "unknown-account")
    twice = BareDevice.send_body(bob.address, (1, 1))
    assert_problem(await alice.call(relay.http, "POST", MESSAGES, twice), 400, "duplicate-envelope")
    bad_b64 = BareDevice.send_body(bob.address)
    bad_b64["envelopes"][0]["body"] = "###"
    problem = assert_problem(await alice.call(relay.http, "POST", MESSAGES, bad_b64), 400)
    assert "envelopes[0].body" in problem["detail"]
    no_at = BareDevice.send_body("bob")
    assert_problem(await alice.call(relay.http, "POST", MESSAGES, no_at), 400, "malformed-address")
    assert (await fetch(relay, bob))["messages"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"message_id": ""},
        {"message_id": "a" * 65},
        {"message_id": "has space"},
        {"message_id": "newline\n"},
        {"envelopes": []},
        {"envelopes": [{"device_id": 1, "type": "receipt", "body": b64(b"x")}]},
        {"envelopes": [{"device_id": 0, "type": "message", "body": b64(b"x")}]},
        {"envelopes": [{"device_id": 1, "type": "message", "body": ""}]},
        {"recipient": 5},
    ],
)
async def test_a_malformed_send_is_refused(relay: Relay, change: dict[str, object]) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    send = {**BareDevice.send_body(bob.address), **change}
    assert_problem(await alice.call(relay.http, "POST", MESSAGES, send), 422, "malformed-body")


async def test_fetch_pages_in_queue_order(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    sent = []
    for _ in range(5):
        send = BareDevice.send_body(bob.address)
        await alice.call(relay.http, "POST", MESSAGES, send)
        sent.append(send["message_id"])
    page = await fetch(relay, bob, limit=2)
    messages = page["messages"]
    assert [m["message_id"] for m in messages] == sent[:2]
    assert page["more"] is True
    ids = [m["id"] for m in messages]
    assert (await bob.call(relay.http, "POST", ACK, {"ids": ids})).json() == {"deleted": 2}
    rest = await fetch(relay, bob, limit=10)
    assert [m["message_id"] for m in rest["messages"]] == sent[2:]
    assert rest["more"] is False
    for limit in ("0", "501", "x"):
        response = await bob.call(relay.http, "GET", f"{MESSAGES}?limit={limit}")
        assert_problem(response, 422, "malformed-body")


@pytest.mark.parametrize("ids", [["1"], [True], [0], [2**63], "1", [1.5]])
async def test_an_ack_takes_only_queue_ids(relay: Relay, ids: object) -> None:
    bob = await BareDevice().register(relay.http)
    response = await bob.call(relay.http, "POST", ACK, {"ids": ids})
    assert_problem(response, 422, "malformed-body")


async def test_a_retry_is_a_duplicate_even_after_the_recipient_gained_a_device(
    relay: Relay,
) -> None:
    """The first attempt was stored for the devices of its time; a retry with the same
    id is answered as a retry, not as a stale device set."""
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    send = BareDevice.send_body(bob.address)
    assert (await alice.call(relay.http, "POST", MESSAGES, send)).status_code == 200
    await add_device_2(relay, bob)
    retry = await alice.call(relay.http, "POST", MESSAGES, send)
    assert retry.json() == {"message_id": send["message_id"], "stored": 0, "duplicate": True}
    fresh = await alice.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address))
    assert assert_problem(fresh, 409, "stale-devices")["missing"] == [2]


async def test_a_device_sends_to_its_own_other_devices_but_never_to_itself(
    relay: Relay,
) -> None:
    alice = await BareDevice().register(relay.http)
    await add_device_2(relay, alice)
    to_self = BareDevice.send_body(alice.address, (1, 2))
    problem = assert_problem(await alice.call(relay.http, "POST", MESSAGES, to_self), 409)
    assert (problem["missing"], problem["extra"]) == ([], [1])
    to_other = BareDevice.send_body(alice.address, (2,))
    assert (await alice.call(relay.http, "POST", MESSAGES, to_other)).json()["stored"] == 1
