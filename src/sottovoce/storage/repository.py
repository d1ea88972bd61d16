"""The one storage interface the server uses, over SQLAlchemy 2 async Core.

Handlers never write SQL; they call these methods, each one transaction. The same
code runs on SQLite (aiosqlite, the embedded default) and PostgreSQL (asyncpg):
nothing here depends on the engine beyond ``RETURNING`` and standard SQL. The
send path's writes and look-ups are shared by concurrent callers, a transaction
or a statement a round (storage.queue_writes, storage.batched_reads).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    LargeBinary,
    Select,
    String,
    and_,
    bindparam,
    cast,
    delete,
    event,
    func,
    insert,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sottovoce.storage import migrate, queue_writes, receipts, round_connection
from sottovoce.storage.batched_reads import (
    BatchedReads,
    key_names,
    key_params,
    key_values,
    matching_any,
    padded,
)
from sottovoce.storage.kept_reads import KEPT_READS_UNCHANGED, KeptReads
from sottovoce.storage.prepared import Prepared
from sottovoce.storage.queue_records import Envelope as Envelope  # re-exported, as the next three
from sottovoce.storage.queue_records import QueuedMessage as QueuedMessage
from sottovoce.storage.queue_records import QueueFull as QueueFull
from sottovoce.storage.queue_records import RecipientGone as RecipientGone
from sottovoce.storage.rounds import Rounds
from sottovoce.storage.safety import GOOD_STANDING
from sottovoce.storage.schema import (
    account_standing,
    accounts,
    devices,
    one_time_prekeys,
    queued_messages,
    send_receipts,
    signed_prekeys,
)
from sottovoce.storage.unsent_reads import UnsentReads, queued_message

SIGNED_EC = "ec"
KEM_LAST_RESORT = "kem_last_resort"
ONE_TIME_EC = "ec"
ONE_TIME_KEM = "kem"


class HandleTaken(Exception):
    """The (app, handle) pair already has an account."""


class DuplicatePrekey(Exception):
    """An upload repeats a one-time prekey id the device already holds."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    pk: int
    account_id: int
    device_id: int
    identity: bytes
    address: str


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    app: str
    handle: str
    account_key: bytes
    device_list: bytes
    device_list_version: int
    created_day: int
    devices: tuple[DeviceRecord, ...]
    # The app marked it a minor's (docs/safety.md): read with it, for the safety checks.
    is_minor: bool = False

    @property
    def address(self) -> str:
        return f"{self.handle}@{self.app}"


@dataclass(frozen=True, slots=True)
class PrekeyRecord:
    key_id: int
    public: bytes
    signature: bytes | None


@dataclass(frozen=True, slots=True)
class Bundle:
    device_id: int
    identity: bytes
    signed_prekey: PrekeyRecord
    kem_prekey: PrekeyRecord
    kem_last_resort: bool
    one_time_prekey: PrekeyRecord | None


def _inserted_id(result: Any) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no primary key for an insert")
    return int(key[0])


def _queued_copy(sender_device_pk: int, message_id: str) -> Select[tuple[int]]:
    """Any still-queued copy of one sent message: the idempotency key's look-up."""
    return (
        select(queued_messages.c.id)
        .where(
            and_(
                queued_messages.c.sender_device_pk == sender_device_pk,
                queued_messages.c.message_id == message_id,
            )
        )
        .limit(1)
    )


def _rollback_if_open(dbapi_connection: Any, _: Any, reset: Any) -> None:
    """A pooled SQLite connection going back to the pool is rolled back only if a
    transaction is still open on it. The pool's default reset rolls back always:
    after every commit, a no-op that is one more hand-off to the aiosqlite thread
    (docs/performance.md); SQLite itself says whether one is open, at no cost."""
    driver = dbapi_connection.driver_connection
    if not reset.terminate_only and (driver is None or driver.in_transaction):
        dbapi_connection.rollback()


# Each node holds a pool of PostgreSQL connections: enough for its concurrent
# requests on two cores, few enough that many nodes stay far below the server's
# max_connections. No overflow: an overflow connection is closed when it comes
# back, so under load each burst forked backends and prepared every statement
# anew (857 backends in one bench run, docs/performance.md); a request waits for
# a pooled connection instead, a queue wait in this process. No pre-ping (a round
# trip per checkout, doubling the cost of the many short transactions a send
# makes): after a PostgreSQL restart the first statement on a cut connection
# fails (:func:`connection_lost`), SQLAlchemy then drops the whole pool, the
# server answers that one request 503 and the client sends it again
# (client.transport: reads, messages and acks, which are idempotent).
POSTGRESQL_POOL: dict[str, Any] = {
    "pool_size": 16,
    "max_overflow": 0,
    "pool_timeout": 10,
}


# On SQLite the send path's rounds have a connection of their own (storage.
# round_connection); the pool serves the other requests' statements, and two
# connections are enough for them: SQLite writes one transaction at a time, and
# a node has two cores' worth of work. No overflow: SQLAlchemy's default pool for
# a file (5, and 10 more in bursts) opened an overflow connection, with its own
# aiosqlite thread and its own copy of the schema, for each burst of concurrent
# requests and closed it when it came back (100 connections for 300 signed
# fetches from 10 devices at once); a request waits for a pooled connection
# instead. No statement needs a second connection while it holds one.
SQLITE_POOL: dict[str, Any] = {"pool_size": 2, "max_overflow": 0}


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is the database cutting a pooled connection (a restart, a
    failover): SQLAlchemy has dropped the pool by then, so the same request
    succeeds on a fresh connection once the database answers again."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def enqueue_request(
    *,
    sender: DeviceRecord | None,
    message_id: str,
    envelopes: Sequence[Envelope],
    server_ts: int,
    max_queue_depth: int,
) -> queue_writes.Enqueue:
    """:meth:`Repository.enqueue`'s arguments as the queue of writes takes them."""
    return queue_writes.Enqueue(
        sender_pk=0 if sender is None else sender.pk,
        sender_address="" if sender is None else sender.address,
        sender_device=0 if sender is None else sender.device_id,
        message_id=message_id,
        envelopes=tuple(envelopes),
        server_ts=server_ts,
        max_queue_depth=max_queue_depth,
    )


class Repository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Where the send path's rounds run, one hand-off each (storage.round_connection).
        self._rounds = round_connection.for_engine(engine)
        # The queue's one writer on this node (docs/performance.md: group commit).
        self._queue_writer: Rounds[queue_writes.QueueWrite, queue_writes.Outcome] = Rounds(
            lambda round_: self._rounds.run(queue_writes.serve_round, round_)
        )
        # Look-ups every send makes, one statement for the concurrent ones.
        self._accounts = BatchedReads(engine, _read_accounts, None)
        # The same accounts kept while this node is the only one (storage.kept_reads).
        self._kept_accounts = KeptReads(engine, (accounts, devices), self._accounts.get_all)
        self._devices = BatchedReads(engine, _read_devices, None)
        self._sent = BatchedReads(engine, _read_sent, False)
        # The queue reads of the streams woken together, one statement a round.
        self._unsent = UnsentReads(engine)

    @classmethod
    def connect(cls, url: str) -> Repository:
        # hide_parameters: a database error's message must not quote the statement's
        # values (ciphertext, addresses, keys) into an exception or a log line.
        if url.startswith("postgresql"):
            engine = create_async_engine(url, hide_parameters=True, **POSTGRESQL_POOL)
        else:
            # The pool's own reset is replaced by _rollback_if_open (below).
            engine = create_async_engine(
                url, hide_parameters=True, pool_reset_on_return=None, **SQLITE_POOL
            )
            event.listen(engine.sync_engine, "connect", round_connection.sqlite_pragmas)
            event.listen(engine.sync_engine, "reset", _rollback_if_open)
        return cls(engine)

    async def migrate(self) -> None:
        await migrate.upgrade(self.engine)

    @property
    def rounds_engine(self) -> Engine:
        """The engine the send path's rounds execute on (for statement listeners):
        on SQLite a synchronous one of its own, on PostgreSQL :attr:`engine`'s."""
        return self._rounds.sync_engine

    async def close(self) -> None:
        await round_connection.close(self.engine)
        await self.engine.dispose()

    # -- accounts and devices -------------------------------------------------

    async def create_account(
        self,
        *,
        app: str,
        handle: str,
        account_key: bytes,
        device_list: bytes,
        device_list_version: int,
        identity: bytes,
        day: int,
        is_minor: bool = False,
    ) -> DeviceRecord:
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    insert(accounts).values(
                        app=app,
                        handle=handle,
                        account_key=account_key,
                        device_list=device_list,
                        device_list_version=device_list_version,
                        created_day=day,
                        is_minor=is_minor,
                    )
                )
                account_id = _inserted_id(result)
                result = await conn.execute(
                    insert(devices).values(
                        account_id=account_id,
                        device_id=1,
                        identity=identity,
                        created_day=day,
                        last_seen_day=day,
                    )
                )
                device_pk = _inserted_id(result)
        except IntegrityError as exc:
            raise HandleTaken(f"{handle}@{app}") from exc
        return DeviceRecord(device_pk, account_id, 1, identity, f"{handle}@{app}")

    async def account(self, app: str, handle: str) -> AccountRecord | None:
        # The account and its devices in one statement, shared by concurrent look-ups:
        # every send reads two accounts (docs/performance.md, load).
        return await self._accounts.get((app, handle))

    async def accounts(
        self, *names: tuple[str, str], alone: bool = False
    ) -> list[AccountRecord | None]:
        """Several ``(app, handle)`` accounts in one statement (a send's recipient
        and the sender's own account). ``alone``: no other node writes this database
        (``Fanout.single_node``), so accounts read before are answered from memory
        unless written since (storage.kept_reads)."""
        if alone:
            return await self._kept_accounts.get_all(names)
        return await self._accounts.get_all(names)

    async def device(self, app: str, handle: str, device_id: int) -> DeviceRecord | None:
        found = await self._devices.get((app, handle, device_id))
        return None if found is None else found[0]

    async def device_and_standing(
        self, app: str, handle: str, device_id: int
    ) -> tuple[DeviceRecord, str] | None:
        """A device with its account's standing (storage.safety), in one statement:
        every authenticated request reads both. Concurrent ones share it."""
        return await self._devices.get((app, handle, device_id))

    async def touch_device(self, device_pk: int, day: int) -> None:
        """Record the coarse last-connection day (DESIGN.md: by day, nothing finer)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(devices)
                .where(and_(devices.c.id == device_pk, devices.c.last_seen_day != day))
                .values(last_seen_day=day)
                .execution_options(**{KEPT_READS_UNCHANGED: True})
            )

    # -- prekeys --------------------------------------------------------------

    async def store_prekeys(
        self,
        device_pk: int,
        *,
        signed_ec: PrekeyRecord | None,
        kem_last_resort: PrekeyRecord | None,
        one_time_ec: Sequence[PrekeyRecord],
        one_time_kem: Sequence[PrekeyRecord],
    ) -> dict[str, int]:
        async with self.engine.begin() as conn:
            for kind, record in ((SIGNED_EC, signed_ec), (KEM_LAST_RESORT, kem_last_resort)):
                if record is None:
                    continue
                await conn.execute(
                    delete(signed_prekeys).where(
                        and_(signed_prekeys.c.device_pk == device_pk, signed_prekeys.c.kind == kind)
                    )
                )
                await conn.execute(
                    insert(signed_prekeys).values(
                        device_pk=device_pk,
                        kind=kind,
                        key_id=record.key_id,
                        public=record.public,
                        signature=record.signature,
                    )
                )
            rows = [
                {
                    "device_pk": device_pk,
                    "kind": kind,
                    "key_id": r.key_id,
                    "public": r.public,
                    "signature": r.signature,
                }
                for kind, records in ((ONE_TIME_EC, one_time_ec), (ONE_TIME_KEM, one_time_kem))
                for r in records
            ]
            if rows:
                try:
                    await conn.execute(insert(one_time_prekeys), rows)
                except IntegrityError as exc:
                    raise DuplicatePrekey("a one-time prekey id is already stored") from exc
            return await self._prekey_counts(conn, device_pk)

    async def prekey_status(self, device_pk: int) -> dict[str, int | None]:
        async with self.engine.connect() as conn:
            counts = await self._prekey_counts(conn, device_pk)
            signed = {
                row.kind: row.key_id
                for row in await conn.execute(
                    select(signed_prekeys.c.kind, signed_prekeys.c.key_id).where(
                        signed_prekeys.c.device_pk == device_pk
                    )
                )
            }
        return {
            **counts,
            "signed_prekey_id": signed.get(SIGNED_EC),
            "kem_last_resort_id": signed.get(KEM_LAST_RESORT),
        }

    @staticmethod
    async def _prekey_counts(conn: Any, device_pk: int) -> dict[str, int]:
        rows = await conn.execute(
            select(one_time_prekeys.c.kind, func.count())
            .where(one_time_prekeys.c.device_pk == device_pk)
            .group_by(one_time_prekeys.c.kind)
        )
        counts = {kind: int(n) for kind, n in rows}
        return {
            "one_time_prekeys": counts.get(ONE_TIME_EC, 0),
            "kem_one_time_prekeys": counts.get(ONE_TIME_KEM, 0),
        }

    async def claim_bundles(self, targets: Iterable[DeviceRecord]) -> list[Bundle]:
        """Hand out one bundle per device; each one-time prekey leaves the table as it
        is handed out, in a single ``DELETE … RETURNING`` statement, so two concurrent
        claims can never receive the same key."""
        bundles = []
        async with self.engine.begin() as conn:
            for device in targets:
                # On PostgreSQL, locking the device's signed prekeys makes concurrent
                # claims of one device take their turn: a claim then never skips (SKIP
                # LOCKED, below) a classical key that another claim is taking while a
                # post-quantum one is still free, so a bundle holds a one-time key of
                # both kinds or of neither (tests/server/test_concurrent_claims.py).
                signed = {
                    row.kind: PrekeyRecord(row.key_id, row.public, row.signature)
                    for row in await conn.execute(
                        select(signed_prekeys)
                        .where(signed_prekeys.c.device_pk == device.pk)
                        .with_for_update()
                    )
                }
                if SIGNED_EC not in signed or KEM_LAST_RESORT not in signed:
                    continue
                one_time = await self._take_one_time(conn, device.pk, ONE_TIME_EC)
                kem = await self._take_one_time(conn, device.pk, ONE_TIME_KEM)
                bundles.append(
                    Bundle(
                        device_id=device.device_id,
                        identity=device.identity,
                        signed_prekey=signed[SIGNED_EC],
                        kem_prekey=kem or signed[KEM_LAST_RESORT],
                        kem_last_resort=kem is None,
                        one_time_prekey=one_time,
                    )
                )
        return bundles

    @staticmethod
    async def _take_one_time(conn: Any, device_pk: int, kind: str) -> PrekeyRecord | None:
        # SQLite runs the statement under its single write lock. On PostgreSQL, SKIP
        # LOCKED lets a concurrent claim take the next key instead of waiting for,
        # then losing, the row another claim is deleting (the clause is dropped on
        # SQLite, which has no row locks).
        oldest = (
            select(one_time_prekeys.c.id)
            .where(and_(one_time_prekeys.c.device_pk == device_pk, one_time_prekeys.c.kind == kind))
            .order_by(one_time_prekeys.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        row = (
            await conn.execute(
                delete(one_time_prekeys)
                .where(one_time_prekeys.c.id == oldest)
                .returning(
                    one_time_prekeys.c.key_id,
                    one_time_prekeys.c.public,
                    one_time_prekeys.c.signature,
                )
            )
        ).first()
        return None if row is None else PrekeyRecord(row.key_id, row.public, row.signature)

    # -- message queue ---------------------------------------------------------

    async def sent_before(self, sender_device_pk: int, message_id: str) -> bool:
        """Whether ``(sender device, message_id)`` is still queued for any device, or
        was accepted within the receipt window (storage.receipts)."""
        return await self._sent.get((sender_device_pk, message_id))

    async def enqueue(
        self,
        *,
        sender: DeviceRecord | None,
        message_id: str,
        envelopes: Sequence[Envelope],
        server_ts: int,
        max_queue_depth: int,
    ) -> list[QueuedMessage] | None:
        """Store every envelope in one transaction. Returns ``None`` when this
        ``(sender device, message_id)`` was stored before (an idempotent retry), even
        if the queues are full by now; raises :class:`QueueFull` when a recipient
        device already holds ``max_queue_depth`` messages, :class:`RecipientGone`
        when a device it names was removed meanwhile. ``sender`` is ``None`` for a
        sealed message: its rows then hold no sender at all ('' and 0).

        Concurrent sends and acknowledgements share one transaction (group commit,
        storage.queue_writes); each returns once its transaction committed."""
        return await self.enqueue_one(
            enqueue_request(
                sender=sender,
                message_id=message_id,
                envelopes=envelopes,
                server_ts=server_ts,
                max_queue_depth=max_queue_depth,
            )
        )

    async def enqueue_one(self, send: queue_writes.Enqueue) -> list[QueuedMessage] | None:
        """:meth:`enqueue` of a send already built (:func:`enqueue_request`)."""
        outcome = await self._queue_writer.submit(send)
        assert outcome is None or isinstance(outcome, list)
        return outcome

    async def enqueue_each(
        self, sends: Sequence[queue_writes.Enqueue]
    ) -> list[list[QueuedMessage] | Exception | None]:
        """:meth:`enqueue` for several sends, stored in this order (they join the
        queue of writes together, ``Rounds.submit_each``), each with its own
        outcome: its rows, ``None`` for a retry, or its failure (:class:`QueueFull`,
        :class:`RecipientGone`)."""
        outcomes = await self._queue_writer.submit_each(sends)
        assert not any(isinstance(o, int) for o in outcomes)  # an int answers an Ack
        return outcomes  # type: ignore[return-value]

    async def fetch(self, device_pk: int, limit: int, after_id: int = 0) -> list[QueuedMessage]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(queued_messages)
                .where(
                    and_(
                        queued_messages.c.recipient_device_pk == device_pk,
                        queued_messages.c.id > after_id,
                    )
                )
                .order_by(queued_messages.c.id)
                .limit(limit)
            )
            return [queued_message(r) for r in rows]

    async def expire_undelivered(self, before_ms: int, keep: Collection[int] = ()) -> int:
        """Delete queued messages that arrived before ``before_ms`` (retention), except
        those for the devices in ``keep`` (under a legal preservation)."""
        condition = queued_messages.c.server_ts < before_ms
        if keep:
            condition = and_(condition, queued_messages.c.recipient_device_pk.notin_(list(keep)))
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(queued_messages).where(condition))
            return int(result.rowcount or 0)

    async def fetch_unsent(
        self, device_pk: int, limit: int, in_flight: Collection[int]
    ) -> list[QueuedMessage]:
        """The oldest queued messages of a device but those in ``in_flight`` (already
        on their way over its connection, not yet acknowledged)."""
        return await self._unsent.fetch(device_pk, limit, in_flight)

    async def ack(self, device_pk: int, ids: Sequence[int]) -> int:
        """Delete the device's acknowledged rows; how many there were. Written with
        the concurrent sends and acknowledgements (group commit, as :meth:`enqueue`)."""
        if not ids:
            return 0
        outcome = await self._queue_writer.submit(queue_writes.Ack(device_pk, tuple(ids)))
        assert isinstance(outcome, int)
        return outcome


@functools.cache
def _accounts_matching(size: int) -> Select[Any]:
    return (
        select(accounts, devices.c.id.label("device_pk"), devices.c.device_id, devices.c.identity)
        .select_from(accounts.outerjoin(devices, devices.c.account_id == accounts.c.id))
        .where(matching_any((accounts.c.app, accounts.c.handle), size))
        .order_by(accounts.c.id, devices.c.device_id)
    )


def _read_accounts(
    conn: Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], AccountRecord | None]:
    terms = padded(keys)
    rows = conn.execute(_accounts_matching(len(terms)), key_params(terms))
    found: dict[tuple[str, str], AccountRecord | None] = {}
    for _, group in itertools.groupby(rows, key=lambda r: r.id):
        account_rows = list(group)
        row = account_rows[0]
        address = f"{row.handle}@{row.app}"
        found[(row.app, row.handle)] = AccountRecord(
            row.id,
            row.app,
            row.handle,
            row.account_key,
            row.device_list,
            row.device_list_version,
            row.created_day,
            tuple(
                DeviceRecord(d.device_pk, row.id, d.device_id, d.identity, address)
                for d in account_rows
                if d.device_pk is not None
            ),
            bool(row.is_minor),
        )
    return found


@functools.cache
def _devices_matching(size: int) -> Prepared:
    return Prepared(
        lambda: (
            select(
                devices.c.id,
                devices.c.account_id,
                devices.c.device_id,
                devices.c.identity,
                accounts.c.app,
                accounts.c.handle,
                account_standing.c.standing,
            )
            .select_from(
                devices.join(accounts, accounts.c.id == devices.c.account_id).outerjoin(
                    account_standing, account_standing.c.account_id == accounts.c.id
                )
            )
            .where(matching_any((accounts.c.app, accounts.c.handle, devices.c.device_id), size))
        ),
        key_names(size, 3),
    )


def _read_devices(
    conn: Connection, keys: Sequence[tuple[str, str, int]]
) -> dict[tuple[str, str, int], tuple[DeviceRecord, str] | None]:
    terms = padded(keys)
    rows = _devices_matching(len(terms)).execute(conn, key_values(terms))
    return {
        (app, handle, device_id): (
            DeviceRecord(pk, account_id, device_id, identity, f"{handle}@{app}"),
            GOOD_STANDING if standing is None else str(standing),
        )
        for pk, account_id, device_id, identity, app, handle, standing in rows
    }


@functools.cache
def _sent_matching(size: int) -> Prepared:
    """Queued copies of ``size`` keys and the receipts of their ``size`` digests."""
    return Prepared(
        lambda: union_all(
            select(
                queued_messages.c.sender_device_pk,
                queued_messages.c.message_id,
                cast(null(), LargeBinary).label("digest"),
            ).where(
                matching_any(
                    (queued_messages.c.sender_device_pk, queued_messages.c.message_id), size
                )
            ),
            select(cast(null(), Integer), cast(null(), String), send_receipts.c.digest).where(
                send_receipts.c.digest.in_(
                    [bindparam(f"digest{i}", type_=LargeBinary) for i in range(size)]
                )
            ),
        ),
        [*key_names(size, 2), *(f"digest{i}" for i in range(size))],
    )


def _read_sent(conn: Connection, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], bool]:
    """Which keys have a queued copy or a receipt: one statement for both."""
    terms = padded(keys)
    digests = [receipts.digest(*key) for key in terms]
    by_digest = dict(zip(digests, terms, strict=True))
    rows = _sent_matching(len(terms)).execute(conn, [*key_values(terms), *digests])
    return {(int(r[0]), str(r[1])) if r[2] is None else by_digest[bytes(r[2])]: True for r in rows}
