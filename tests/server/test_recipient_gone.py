"""A device removed between a send's check and its store (docs/api.md, stale
devices): the send gets 409 ``stale-devices`` saying what changed, nothing of it is
stored (no copy, no receipt: the same id is stored once resent), and the other
sends of its round are stored as if alone. The queue's foreign key is what refuses
the copy; a copy refused by the queue's unique key instead is a retry's duplicate.
On SQLite, or PostgreSQL (and Redis) with ``SOTTOVOCE_TEST_DB=postgresql``.

The removal is a real device-list request, run by a seam at the storage boundary
(``Repository.enqueue_one`` / ``enqueue_each``) once the send's checks have read
the account, so it commits before the send's copies are written."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, select

from sottovoce.protocol.public.unidentified_access import ACCESS_KEY_LEN
from sottovoce.server.delivery_keys import load as load_delivery_keys
from sottovoce.server.problems import Problem
from sottovoce.server.routes import websocket
from sottovoce.server.sending import SendMessage, send_message
from sottovoce.storage import queue_writes
from sottovoce.storage.repository import DeviceRecord, Envelope, RecipientGone, Repository
from sottovoce.storage.schema import queued_messages
from tests.server.conftest import Relay
from tests.server.test_kept_reads import publish, send
from tests.support.device import MESSAGES, BareDevice, assert_problem, b64


class RemovedFirst:
    """A storage call that, the first time, lets ``remove`` commit before storing."""

    def __init__(self, store: Callable[..., Awaitable[Any]], remove: Callable[[], Awaitable[None]]):
        self._store = store
        self._remove: Callable[[], Awaitable[None]] | None = remove

    async def __call__(self, *args: Any) -> Any:
        remove, self._remove = self._remove, None
        if remove is not None:
            await remove()
        return await self._store(*args)


async def alice_with_two_devices(relay: Relay) -> BareDevice:
    alice = await BareDevice().register(relay.http)
    await publish(relay, alice, 2, BareDevice())
    return alice


async def copies_of(repo: Repository, message_id: str) -> list[int]:
    async with repo.engine.connect() as conn:
        rows = await conn.execute(
            select(queued_messages.c.recipient_device_pk).where(
                queued_messages.c.message_id == message_id
            )
        )
        return [int(r[0]) for r in rows]


async def device(repo: Repository, owner: BareDevice) -> DeviceRecord:
    found = await repo.device(owner.app, owner.handle, owner.device_id)
    assert found is not None
    return found


async def test_a_post_to_a_device_removed_meanwhile_is_stale_and_stores_nothing(
    relay: Relay,
) -> None:
    repo = relay.state.repo
    alice = await alice_with_two_devices(relay)
    bob = await BareDevice().register(relay.http)
    assert (await send(relay, bob, BareDevice.send_body(alice.address, (1, 2))))["stored"] == 2
    relay.state.repo.enqueue_one = RemovedFirst(  # type: ignore[method-assign]
        repo.enqueue_one, lambda: publish(relay, alice, 3)
    )
    body = BareDevice.send_body(alice.address, (1, 2))
    stale = await bob.call(relay.http, "POST", MESSAGES, body)
    problem = assert_problem(stale, 409, "stale-devices")
    assert (problem["missing"], problem["extra"]) == ([], [2])
    assert (problem["own_missing"], problem["own_extra"]) == ([], [])
    assert problem["detail"] == f"{alice.address} has devices [1], and your other devices are []"
    assert await copies_of(repo, body["message_id"]) == []
    # No receipt either: the same message, sent again to the devices left, is stored.
    sender = await device(repo, bob)
    assert not await repo.sent_before(sender.pk, body["message_id"])
    body["envelopes"] = body["envelopes"][:1]
    again = await send(relay, bob, body)
    assert (again["stored"], again["duplicate"]) == (1, False)
    assert await copies_of(repo, body["message_id"]) == [(await device(repo, alice)).pk]


async def test_the_senders_own_device_removed_meanwhile_is_named_as_its_own(
    relay: Relay,
) -> None:
    alice = await alice_with_two_devices(relay)
    bob = await BareDevice().register(relay.http)
    body = BareDevice.send_body(bob.address)
    body["own_envelopes"] = [{"device_id": 2, "type": "message", "body": "AQ=="}]
    assert (await send(relay, alice, body))["stored"] == 2
    relay.state.repo.enqueue_one = RemovedFirst(  # type: ignore[method-assign]
        relay.state.repo.enqueue_one, lambda: publish(relay, alice, 3)
    )
    body["message_id"] = "own-device-gone"
    stale = await alice.call(relay.http, "POST", MESSAGES, body)
    problem = assert_problem(stale, 409, "stale-devices")
    assert (problem["missing"], problem["extra"]) == ([], [])
    assert (problem["own_missing"], problem["own_extra"]) == ([], [2])
    assert await copies_of(relay.state.repo, "own-device-gone") == []


async def test_a_sealed_send_to_a_device_removed_meanwhile_is_stale(relay: Relay) -> None:
    alice = await alice_with_two_devices(relay)
    access_key = secrets.token_bytes(ACCESS_KEY_LEN)
    answer = await alice.call(
        relay.http,
        "PUT",
        "/v1/accounts/self/unidentified-access",
        {"access_key": b64(access_key)},
    )
    assert answer.status_code == 200, answer.text
    relay.state.repo.enqueue_one = RemovedFirst(  # type: ignore[method-assign]
        relay.state.repo.enqueue_one, lambda: publish(relay, alice, 3)
    )
    body = {
        "message_id": "sealed-gone",
        "recipient": alice.address,
        "commitment": b64(bytes(32)),
        "envelopes": [{"device_id": d, "type": "sealed", "body": "AQ=="} for d in (1, 2)],
    }
    stale = await relay.http.post(
        "/v1/messages/sealed", json=body, headers={"unidentified-access-key": b64(access_key)}
    )
    problem = assert_problem(stale, 409, "stale-devices")
    assert (problem["missing"], problem["extra"]) == ([], [2])
    assert "own_missing" not in problem  # a sealed send has no sender to speak of
    assert problem["detail"] == f"{alice.address} has devices [1]"
    assert await copies_of(relay.state.repo, "sealed-gone") == []


async def test_a_websocket_send_to_a_device_removed_meanwhile_is_stale(relay: Relay) -> None:
    """The socket's submission queue (routes.websocket) hands the failure to its send."""
    state = relay.state
    alice = await alice_with_two_devices(relay)
    bob = await BareDevice().register(relay.http)
    state.repo.enqueue_each = RemovedFirst(  # type: ignore[method-assign]
        state.repo.enqueue_each, lambda: publish(relay, alice, 3)
    )
    submissions = websocket._Submissions(state.repo)
    slot = submissions.slot()
    body = SendMessage.model_validate(BareDevice.send_body(alice.address, (1, 2)))
    keys = await load_delivery_keys(state.repo)
    try:
        await send_message(state, keys, await device(state.repo, bob), body, enqueue=slot.enqueue)
    except Problem as refused:
        assert (refused.status, refused.kind) == (409, "stale-devices")
        assert refused.extra == {"missing": [], "extra": [2], "own_missing": [], "own_extra": []}
    else:
        raise AssertionError("the send to a removed device was answered as stored")
    finally:
        slot.finish()
    assert await copies_of(state.repo, body.message_id) == []


async def test_the_other_sends_of_the_round_are_stored(relay: Relay) -> None:
    repo = relay.state.repo
    alice = await alice_with_two_devices(relay)
    bob, carol = [await BareDevice().register(relay.http) for _ in range(2)]
    account = await repo.account(alice.app, alice.handle)
    assert account is not None  # what a send's check read: devices 1 and 2
    sender, to_carol = await device(repo, bob), await device(repo, carol)
    await publish(relay, alice, 3)  # device 2 removed after that read

    def to(message_id: str, *recipients: int) -> queue_writes.Enqueue:
        envelopes = tuple(Envelope(pk, "message", b"\x01") for pk in recipients)
        return queue_writes.Enqueue(sender.pk, sender.address, 1, message_id, envelopes, 1, 100)

    round_ = [
        to("before", to_carol.pk),
        to("to-alice", *(d.pk for d in account.devices)),
        to("after", to_carol.pk),
    ]
    outcomes = await repo.enqueue_each(round_)  # one round: they join it together
    assert isinstance(outcomes[1], RecipientGone)
    assert [type(outcomes[0]), type(outcomes[2])] == [list, list]
    assert await copies_of(repo, "before") == await copies_of(repo, "after") == [to_carol.pk]
    assert await copies_of(repo, "to-alice") == []
    assert not await repo.sent_before(sender.pk, "to-alice")


async def test_a_copy_the_unique_key_refuses_is_a_duplicate(relay: Relay) -> None:
    """What a concurrent retry on another node meets (its copy committed after this
    round read the queue): here the same rows, written first in the same
    transaction by a statement listener, as that commit would have."""
    repo = relay.state.repo
    bob, carol = [await BareDevice().register(relay.http) for _ in range(2)]
    sender, recipient = await device(repo, bob), await device(repo, carol)
    copied = []

    def copy_first(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("INSERT INTO queued_messages"):
            copied.append(1)
            cursor.execute(statement, parameters)

    event.listen(repo.rounds_engine, "before_cursor_execute", copy_first)
    try:
        outcomes = await repo.enqueue_each(
            [
                queue_writes.Enqueue(
                    sender.pk,
                    sender.address,
                    1,
                    "raced",
                    (Envelope(recipient.pk, "message", b"\x01"),),
                    1,
                    100,
                )
            ]
        )
    finally:
        event.remove(repo.rounds_engine, "before_cursor_execute", copy_first)
    assert copied and outcomes == [None]
