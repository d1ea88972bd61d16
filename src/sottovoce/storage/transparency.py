"""Storage for linked devices and the key-transparency log, on the Repository's engine.

Every method is one transaction. A device-list change, its history row and its
log entry commit together, so the log never misses a list the server serves and
never holds one it does not. The log's order is the table's: a writer claims the
next leaf index by inserting it, and a node that lost the race to another
(``LeafTaken``) catches up and tries again; one head per epoch likewise
(``EpochTaken``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select, update
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


class LeafTaken(Exception):
    """Another node appended the log entry of that index first."""


class EpochTaken(Exception):
    """Another node signed the head of that epoch first."""


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
        # A gap would be a half-visible concurrent append: take the prefix only.
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
    async def _append(conn: AsyncConnection, start: int, entries: Sequence[bytes]) -> None:
        """Claim indices ``start…`` first in the transaction, so a lost race writes nothing."""
        try:
            await conn.execute(
                insert(transparency_leaves),
                [{"idx": start + i, "entry": e} for i, e in enumerate(entries)],
            )
        except IntegrityError as exc:
            raise LeafTaken(f"log index {start} is taken") from exc

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
        start: int,
        entries: Sequence[bytes],
        key_leaf: int | None,
        device_list: bytes,
        version: int,
        list_leaf: int,
    ) -> None:
        """Log a new account's key (when ``salt`` is given) and current device list."""
        async with self.engine.begin() as conn:
            await self._append(conn, start, entries)
            if salt is not None and key_leaf is not None:
                await conn.execute(
                    insert(transparency_accounts).values(
                        account_id=account_id, salt=salt, key_leaf=key_leaf
                    )
                )
            await conn.execute(
                insert(device_list_history).values(
                    account_id=account_id, version=version, device_list=device_list, leaf=list_leaf
                )
            )

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
        leaf: int,
        entry: bytes,
    ) -> None:
        """Make ``device_list`` the account's, add and remove device rows (a removed
        device's queue and prekeys go with it), and log it: all or nothing."""
        async with self.engine.begin() as conn:
            await self._append(conn, leaf, [entry])
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
