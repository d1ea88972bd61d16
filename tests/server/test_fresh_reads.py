"""What a request is checked against is read after it arrived (docs/server.md,
"Round trips"): a node among others caches no device, account or standing, and
no node caches a standing, so a change made from outside the node — another
node, or the operator's moderation desk in its own process — refuses the very
next request, concurrent ones included. (A node alone keeps the accounts it sends
to, emptied by its own writes: tests/server/test_kept_reads.py.)"""

from __future__ import annotations

import asyncio

from sqlalchemy import and_, delete, insert

from sottovoce.fanout.inprocess import InProcessFanout
from sottovoce.server.abuse.moderation import Moderation
from sottovoce.storage.repository import Repository
from sottovoce.storage.schema import devices
from tests.server.conftest import Relay
from tests.support.device import MESSAGES, BareDevice, assert_problem


async def linked_device(relay: Relay, owner: BareDevice) -> BareDevice:
    """Device 2 of ``owner``'s account, its row written straight into storage."""
    second = BareDevice(owner.handle, owner.app)
    second.device_id = 2
    account = await relay.state.repo.account(owner.app, owner.handle)
    assert account is not None
    async with relay.state.repo.engine.begin() as conn:
        await conn.execute(
            insert(devices).values(
                account_id=account.id,
                device_id=2,
                identity=second.identity.to_bytes(),
                created_day=0,
                last_seen_day=0,
            )
        )
    return second


class OneOfSeveralNodes(InProcessFanout):
    """The fan-out of a node that shares its database with others (Redis, in a
    deployment): it keeps no account it read (storage.kept_reads)."""

    single_node = False


async def test_a_device_removed_elsewhere_is_refused_at_its_next_request(relay: Relay) -> None:
    relay.state.fanout = OneOfSeveralNodes()
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    second = await linked_device(relay, alice)
    body = BareDevice.send_body(bob.address)
    body["own_envelopes"] = [{"device_id": 1, "type": "message", "body": "AQ=="}]
    sent = await second.call(relay.http, "POST", MESSAGES, body)
    assert sent.status_code == 200, sent.text
    # Removed through a connection of its own, as another node would.
    other_node = Repository.connect(relay.state.settings.db_url)
    try:
        account = await other_node.account(alice.app, alice.handle)
        assert account is not None
        async with other_node.engine.begin() as conn:
            await conn.execute(
                delete(devices).where(
                    and_(devices.c.account_id == account.id, devices.c.device_id == 2)
                )
            )
    finally:
        await other_node.close()
    answers = await asyncio.gather(
        *(
            second.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address))
            for _ in range(5)
        )
    )
    for answer in answers:
        assert_problem(answer, 401, "unknown-device")
    # Bob writing to alice now names only the device that is left.
    stale = await bob.call(
        relay.http, "POST", MESSAGES, BareDevice.send_body(alice.address, (1, 2))
    )
    assert_problem(stale, 409, "stale-devices")
    fresh = await bob.call(relay.http, "POST", MESSAGES, BareDevice.send_body(alice.address))
    assert fresh.status_code == 200, fresh.text


async def test_a_suspension_by_the_desk_refuses_the_next_requests(relay: Relay) -> None:
    spammer = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    sent = await spammer.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address))
    assert sent.status_code == 200, sent.text
    desk = await Moderation.open(relay.state.settings.db_url)  # as `sottovoce moderation` does
    try:
        await desk.act(spammer.address, "suspend", "spam")
    finally:
        await desk.close()
    answers = await asyncio.gather(
        *(
            spammer.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address))
            for _ in range(5)
        ),
        spammer.call(relay.http, "GET", MESSAGES),
    )
    for answer in answers:
        assert_problem(answer, 403, "account-suspended")
    ok = await bob.call(relay.http, "GET", MESSAGES)
    assert ok.status_code == 200, ok.text
