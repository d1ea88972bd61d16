"""A node keeps the accounts it sends to (storage.kept_reads), and no send is ever
checked against a device list that a write has replaced: each write that changes an
account or its devices is seen by the very next send."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import and_, delete, event, insert

from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.storage.kept_reads import KeptReads
from sottovoce.storage.repository import AccountRecord, Repository
from sottovoce.storage.schema import accounts, devices, queued_messages
from tests.server.conftest import Relay
from tests.support.device import MESSAGES, BareDevice, assert_problem, b64

DEVICE_LIST = "/v1/accounts/self/device-list"


async def send(relay: Relay, sender: BareDevice, body: dict[str, object]) -> dict[str, object]:
    answer = await sender.call(relay.http, "POST", MESSAGES, body)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


async def publish(relay: Relay, owner: BareDevice, version: int, *others: BareDevice) -> None:
    """``owner``'s signed device list at ``version``: its device 1 and ``others`` as
    devices 2, 3 …, through the API (linking and unlinking)."""
    entries = (
        DeviceEntry(1, owner.identity, 0),
        *(DeviceEntry(i, d.identity, 0) for i, d in enumerate(others, start=2)),
    )
    signed = DeviceList(owner.address, version, entries).sign(owner.account_key)
    answer = await owner.call(relay.http, "PUT", DEVICE_LIST, {"device_list": b64(signed)})
    assert answer.status_code == 200, answer.text


async def test_a_linked_device_must_be_named_by_the_next_send(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    await send(relay, bob, BareDevice.send_body(alice.address))  # alice's account is kept
    await publish(relay, alice, 2, BareDevice())
    stale = await bob.call(relay.http, "POST", MESSAGES, BareDevice.send_body(alice.address))
    problem = assert_problem(stale, 409, "stale-devices")
    assert (problem["missing"], problem["extra"]) == ([2], [])
    assert problem["detail"] == f"{alice.address} has devices [1, 2], and your other devices are []"
    assert (await send(relay, bob, BareDevice.send_body(alice.address, (1, 2))))["stored"] == 2


async def test_an_unlinked_device_is_refused_by_the_next_send(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    await publish(relay, alice, 2, BareDevice())
    await send(relay, bob, BareDevice.send_body(alice.address, (1, 2)))
    await publish(relay, alice, 3)
    stale = await bob.call(
        relay.http, "POST", MESSAGES, BareDevice.send_body(alice.address, (1, 2))
    )
    problem = assert_problem(stale, 409, "stale-devices")
    assert (problem["missing"], problem["extra"]) == ([], [2])
    assert (await send(relay, bob, BareDevice.send_body(alice.address)))["stored"] == 1


async def test_the_senders_own_new_device_must_get_its_copy(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    await send(relay, alice, BareDevice.send_body(bob.address))  # both accounts kept
    await publish(relay, alice, 2, BareDevice())
    stale = await alice.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address))
    problem = assert_problem(stale, 409, "stale-devices")
    assert (problem["own_missing"], problem["own_extra"]) == ([2], [])
    body = BareDevice.send_body(bob.address)
    body["own_envelopes"] = [{"device_id": 2, "type": "message", "body": "AQ=="}]
    assert (await send(relay, alice, body))["stored"] == 2


async def test_a_registration_is_seen_by_the_next_send(relay: Relay) -> None:
    bob = await BareDevice().register(relay.http)
    carol = BareDevice()
    early = await bob.call(relay.http, "POST", MESSAGES, BareDevice.send_body(carol.address))
    assert_problem(early, 404, "unknown-account")
    await carol.register(relay.http)
    assert (await send(relay, bob, BareDevice.send_body(carol.address)))["stored"] == 1


async def test_writes_straight_through_the_nodes_engine_are_seen(relay: Relay) -> None:
    """Whichever module writes ``devices`` or ``accounts`` (a deletion, a migration
    step, a test), the next send sees it."""
    alice = await BareDevice().register(relay.http)
    bob = await BareDevice().register(relay.http)
    await send(relay, bob, BareDevice.send_body(alice.address))
    account = await relay.state.repo.account(alice.app, alice.handle)
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
    stale = await bob.call(relay.http, "POST", MESSAGES, BareDevice.send_body(alice.address))
    assert_problem(stale, 409, "stale-devices")
    await send(relay, bob, BareDevice.send_body(alice.address, (1, 2)))
    async with relay.state.repo.engine.begin() as conn:
        await conn.execute(
            delete(devices).where(
                and_(devices.c.account_id == account.id, devices.c.device_id == 2)
            )
        )
    stale = await bob.call(
        relay.http, "POST", MESSAGES, BareDevice.send_body(alice.address, (1, 2))
    )
    assert_problem(stale, 409, "stale-devices")
    async with relay.state.repo.engine.begin() as conn:
        await conn.execute(delete(accounts).where(accounts.c.id == account.id))
    gone = await bob.call(relay.http, "POST", MESSAGES, BareDevice.send_body(alice.address))
    assert_problem(gone, 404, "unknown-account")


class CountedReads:
    """The repository's accounts read, counting its calls and able to hold one."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.calls = 0
        self.hold: asyncio.Event | None = None
        self.held = asyncio.Event()

    async def __call__(self, names: Sequence[tuple[str, str]]) -> list[AccountRecord | None]:
        self.calls += 1
        found = await self.repo.accounts(*names)
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        return found


async def registered(relay: Relay) -> tuple[str, str]:
    device = await BareDevice().register(relay.http)
    return device.app, device.handle


async def test_a_kept_account_is_read_once_until_written(relay: Relay) -> None:
    repo = relay.state.repo
    reads = CountedReads(repo)
    cache = KeptReads(repo.engine, (accounts, devices), reads)
    name = await registered(relay)
    first = await cache.get_all([name])
    assert await cache.get_all([name]) == first and reads.calls == 1
    # The last-connection day is no part of the record: the copy stays.
    assert first[0] is not None
    await repo.touch_device(first[0].devices[0].pk, 12_345)
    await cache.get_all([name])
    assert reads.calls == 1
    # A write to the tables, even one that changes nothing, drops it.
    async with repo.engine.begin() as conn:
        await conn.execute(delete(devices).where(devices.c.account_id == -1))
    await cache.get_all([name])
    assert reads.calls == 2
    # An unknown name is read every time (a registration needs no invalidation).
    missing = ("chat", "nobody-yet")
    assert await cache.get_all([missing]) == [None]
    assert await cache.get_all([missing, name]) == [None, first[0]]
    assert reads.calls == 4


async def test_nothing_is_kept_while_a_write_is_open(relay: Relay) -> None:
    repo = relay.state.repo
    reads = CountedReads(repo)
    cache = KeptReads(repo.engine, (accounts, devices), reads)
    name = await registered(relay)
    await cache.get_all([name])
    async with repo.engine.connect() as conn:
        await conn.execute(delete(devices).where(devices.c.account_id == -1))
        # Until the transaction ends, every look-up reads (what committed).
        await cache.get_all([name])
        await cache.get_all([name])
        assert reads.calls == 3
        await conn.rollback()
    await cache.get_all([name])
    await cache.get_all([name])
    assert reads.calls == 4


async def test_a_read_overtaken_by_a_write_is_not_kept(relay: Relay) -> None:
    repo = relay.state.repo
    reads = CountedReads(repo)
    cache = KeptReads(repo.engine, (accounts, devices), reads)
    name = await registered(relay)
    reads.hold = asyncio.Event()
    pending = asyncio.create_task(cache.get_all([name]))
    await reads.held.wait()  # read, not yet answered
    async with repo.engine.begin() as conn:
        await conn.execute(delete(devices).where(devices.c.account_id == -1))
    reads.hold.set()
    reads.hold = None
    await pending
    await cache.get_all([name])
    assert reads.calls == 2


async def test_a_read_while_the_database_commits_is_not_kept(relay: Relay) -> None:
    """SQLAlchemy's ``commit`` event comes before the database's commit, which an
    async engine waits for: a read then still sees the rows as they were."""
    repo = relay.state.repo
    reads = CountedReads(repo)
    cache = KeptReads(repo.engine, (accounts, devices), reads)
    name = await registered(relay)
    during: list[asyncio.Task[list[AccountRecord | None]]] = []

    def read_now(conn: object) -> None:
        during.append(asyncio.get_running_loop().create_task(cache.get_all([name])))

    event.listen(repo.engine.sync_engine, "commit", read_now)
    try:
        async with repo.engine.begin() as conn:
            await conn.execute(delete(devices).where(devices.c.account_id == -1))
    finally:
        event.remove(repo.engine.sync_engine, "commit", read_now)
    assert during
    await asyncio.gather(*during)
    calls = reads.calls
    await cache.get_all([name])
    assert reads.calls == calls + 1


async def test_the_oldest_account_goes_first_past_the_bound(relay: Relay) -> None:
    repo = relay.state.repo
    reads = CountedReads(repo)
    cache = KeptReads(repo.engine, (accounts, devices), reads, max_entries=2)
    first, second, third = [await registered(relay) for _ in range(3)]
    for name in (first, second, third):
        await cache.get_all([name])
    await cache.get_all([second])
    await cache.get_all([third])
    assert reads.calls == 3
    await cache.get_all([first])
    assert reads.calls == 4


async def test_a_kept_look_up_reads_only_the_tables_the_prepared_statements_leave_alone(
    relay: Relay,
) -> None:
    """The statements run as the driver's SQL pass no ``before_execute`` and write
    none of KEPT_TABLES (storage.prepared); a kept look-up of another table could
    miss their writes, so none may be built."""
    repo = relay.state.repo
    with pytest.raises(ValueError, match="queued_messages"):
        KeptReads(repo.engine, (accounts, queued_messages), CountedReads(repo))
