"""Storage for linked devices and the key-transparency log, on the Repository's engine.

Every method is one transaction. A device-list change, its history row and its
log entry commit together, so the log never misses a list the server serves and
never holds one it does not. The stored leaves are the log, shared by every
node: an append takes the log's lock for its transaction (``pg_advisory_xact_lock``
on PostgreSQL; on SQLite its one write lock, which the first statement, a write,
takes), so appends from all nodes are serialised and each one's indices follow
the last committed leaf. One head per epoch: the first node to store it wins
(``EpochTaken``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sottovoce.storage.schema import (
    accounts,
    device_list_history,
    devices,
    transparency_accounts,
    transparency_heads,
    transparency_leaves,
    transparency_signing_key,
)

# The key of the PostgreSQL advisory lock that serialises appends to the log
# (any constant no other lock in the database uses: "sv-kt-log" as a number).
LOG_LOCK_KEY = 0x73762D6B742D6C6F


class EpochTaken(Exception):
    """Another node signed the head of that epoch first."""


class _LoggedAlready(Exception):
    """Raised inside a transaction to roll back an append another node made first."""


class StaleDeviceList(Exception):
    """The account's device list changed meanwhile: the new one is not the next version."""


@dataclass(frozen=True, slots=True)
class NewDevice:
    device_id: int
    identity: bytes


@dataclass(frozen=True, slots=True)
class LoggedAccount:
    """Where an account stands in the log: its commitment salt and latest entries."""

    account_id: int
    salt: bytes
    key_leaf: int
    list_version: int
    list_leaf: int


@dataclass(frozen=True, slots=True)
class Unlogged:
    """An account whose key or current device list has no log entry (a crash between
    registration and logging): the directory logs it on start."""

    account_id: int
    address: str
    account_key: bytes
    device_list: bytes
    version: int
    has_salt: bool


class TransparencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- the log ---------------------------------------------------------------

    async def signing_key(self, generated: bytes) -> bytes:
        """The stored log key; ``generated`` is stored first if there is none (and if
        another node stored one at the same moment, that one is the key)."""
        try:
            async with self.engine.begin() as conn:
                query = select(transparency_signing_key.c.private_key)
                row = (await conn.execute(query)).first()
                if row is not None:
                    return bytes(row.private_key)
                await conn.execute(
                    insert(transparency_signing_key).values(id=1, private_key=generated)
                )
        except IntegrityError:
            async with self.engine.connect() as conn:
                return bytes((await conn.execute(query)).scalar_one())
        return generated

    async def leaves(self, start: int = 0) -> list[bytes]:
        """Entries from index ``start`` on, in order."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(transparency_leaves.c.idx, transparency_leaves.c.entry)
                .where(transparency_leaves.c.idx >= start)
                .order_by(transparency_leaves.c.idx)
            )
            found = [(int(r.idx), bytes(r.entry)) for r in rows]
        # Appends commit in index order (the log's lock), so a snapshot holds a
        # prefix; should a gap ever show, only the prefix is the log.
        return [entry for i, (idx, entry) in enumerate(found) if idx == start + i]

    async def latest_head(self) -> bytes | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(transparency_heads.c.head)
                    .order_by(transparency_heads.c.epoch.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else bytes(row.head)

    async def head(self, epoch: int) -> bytes | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(transparency_heads.c.head).where(transparency_heads.c.epoch == epoch)
                )
            ).first()
        return None if row is None else bytes(row.head)

    async def store_head(self, epoch: int, head: bytes) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(transparency_heads).values(epoch=epoch, head=head))
        except IntegrityError as exc:
            raise EpochTaken(f"epoch {epoch} is signed already") from exc

    @staticmethod
    async def _append(conn: AsyncConnection, entries: Sequence[bytes]) -> int:
        """Append ``entries`` after the last committed leaf, first in the transaction, and
        return the first one's index. The log stays locked until the transaction ends:
        the next append, from any node, waits and then sees these leaves."""
        if conn.dialect.name == "postgresql":
            await conn.execute(select(func.pg_advisory_xact_lock(LOG_LOCK_KEY)))
        indices = []
        for entry in entries:
            # One statement reads the size and writes: on SQLite it takes the write lock.
            next_index = select(
                func.coalesce(func.max(transparency_leaves.c.idx) + 1, 0), literal(entry)
            )
            claimed = await conn.execute(
                insert(transparency_leaves)
                .from_select(["idx", "entry"], next_index)
                .returning(transparency_leaves.c.idx)
            )
            indices.append(int(claimed.scalar_one()))
        return indices[0]

    # -- accounts ----------------------------------------------------------------

    async def logged_account(self, account_id: int) -> LoggedAccount | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        transparency_accounts.c.salt,
                        transparency_accounts.c.key_leaf,
                        device_list_history.c.version,
                        device_list_history.c.leaf,
                    )
                    .join(
                        device_list_history,
                        device_list_history.c.account_id == transparency_accounts.c.account_id,
                    )
                    .where(transparency_accounts.c.account_id == account_id)
                    .order_by(device_list_history.c.version.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        return LoggedAccount(account_id, bytes(row.salt), row.key_leaf, row.version, row.leaf)

    async def device_list_at(self, account_id: int, version: int) -> bytes | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(device_list_history.c.device_list).where(
                        and_(
                            device_list_history.c.account_id == account_id,
                            device_list_history.c.version == version,
                        )
                    )
                )
            ).first()
        return None if row is None else bytes(row.device_list)

    async def unlogged_accounts(self) -> list[Unlogged]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    accounts.c.id,
                    accounts.c.app,
                    accounts.c.handle,
                    accounts.c.account_key,
                    accounts.c.device_list,
                    accounts.c.device_list_version,
                    transparency_accounts.c.salt,
                    device_list_history.c.version,
                )
                .outerjoin(
                    transparency_accounts, transparency_accounts.c.account_id == accounts.c.id
                )
                .outerjoin(
                    device_list_history,
                    and_(
                        device_list_history.c.account_id == accounts.c.id,
                        device_list_history.c.version == accounts.c.device_list_version,
                    ),
                )
                .where(
                    (transparency_accounts.c.salt.is_(None))
                    | (device_list_history.c.version.is_(None))
                )
                .order_by(accounts.c.id)
            )
            return [
                Unlogged(
                    r.id,
                    f"{r[2]}@{r[1]}",
                    bytes(r.account_key),
                    bytes(r.device_list),
                    r.device_list_version,
                    r.salt is not None,
                )
                for r in rows
            ]

    async def log_account(
        self,
        account_id: int,
        salt: bytes | None,
        entries: Sequence[bytes],
        device_list: bytes,
        version: int,
    ) -> int | None:
        """Log a new account's key (when ``salt`` is given: ``entries`` are the key's and
        then the list's) or only its current device list; returns the first index, or
        None if this version was logged already (by another node recovering the same
        crash: checked under the log's lock, and nothing is written)."""
        try:
            async with self.engine.begin() as conn:
                return await self._log_account(
                    conn, account_id, salt, entries, device_list, version
                )
        except _LoggedAlready:
            return None

    async def _log_account(
        self,
        conn: AsyncConnection,
        account_id: int,
        salt: bytes | None,
        entries: Sequence[bytes],
        device_list: bytes,
        version: int,
    ) -> int:
        start = await self._append(conn, entries)
        logged = await conn.execute(
            select(device_list_history.c.version).where(
                and_(
                    device_list_history.c.account_id == account_id,
                    device_list_history.c.version == version,
                )
            )
        )
        if logged.first() is not None:
            raise _LoggedAlready  # rolls the appended leaves back
        if salt is not None:
            await conn.execute(
                insert(transparency_accounts).values(
                    account_id=account_id, salt=salt, key_leaf=start
                )
            )
        await conn.execute(
            insert(device_list_history).values(
                account_id=account_id,
                version=version,
                device_list=device_list,
                leaf=start + len(entries) - 1,
            )
        )
        return start

    async def replace_device_list(
        self,
        account_id: int,
        *,
        expected_version: int,
        device_list: bytes,
        version: int,
        added: Sequence[NewDevice],
        removed: Sequence[int],
        day: int,
        entry: bytes,
    ) -> int:
        """Make ``device_list`` the account's, add and remove device rows (a removed
        device's queue and prekeys go with it), and log it: all or nothing. Returns
        the entry's index."""
        async with self.engine.begin() as conn:
            leaf = await self._append(conn, [entry])
            result = await conn.execute(
                update(accounts)
                .where(
                    and_(
                        accounts.c.id == account_id,
                        accounts.c.device_list_version == expected_version,
                    )
                )
                .values(device_list=device_list, device_list_version=version)
            )
            if result.rowcount != 1:
                raise StaleDeviceList(f"account {account_id} is no longer at {expected_version}")
            if removed:
                await conn.execute(
                    delete(devices).where(
                        and_(devices.c.account_id == account_id, devices.c.device_id.in_(removed))
                    )
                )
            for device in added:
                await conn.execute(
                    insert(devices).values(
                        account_id=account_id,
                        device_id=device.device_id,
                        identity=device.identity,
                        created_day=day,
                        last_seen_day=day,
                    )
                )
            await conn.execute(
                insert(device_list_history).values(
                    account_id=account_id, version=version, device_list=device_list, leaf=leaf
                )
            )
        return leaf
