"""Storage for the safety controls: reported blocks, minors' connections, standing
and the moderation audit trail (docs/safety.md). Built on the Repository's engine;
each method is one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.batched_reads import BatchedReads
from sottovoce.storage.kept_reads import KeptReads
from sottovoce.storage.schema import (
    account_standing,
    accounts,
    devices,
    minor_connections,
    moderation_actions,
    reported_blocks,
)

GOOD_STANDING = "ok"
WARNED = "warned"
RESTRICTED = "restricted"
SUSPENDED = "suspended"
# Actions and the standing each leaves the account in.
STANDING_AFTER = {"warn": WARNED, "restrict": RESTRICTED, "suspend": SUSPENDED, "restore": None}
AUTOMATIC = "automatic"
MAX_REASON_LEN = 500
MAX_SIGNALS_LEN = 2000


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the safety controls read about an account: all on DESIGN.md's list."""

    id: int
    app: str
    handle: str
    is_minor: bool
    created_day: int

    @property
    def address(self) -> str:
        return f"{self.handle}@{self.app}"


@dataclass(frozen=True, slots=True)
class ModerationAction:
    id: int
    address: str
    action: str
    actor: str
    reason: str
    signals: dict[str, Any]
    created_ms: int


@dataclass(frozen=True, slots=True)
class FirstContact:
    """What an unsealed send checks about its sender and recipient, read together."""

    blocked: bool  # the recipient reported blocking the sender
    sender_is_minor: bool


class SafetyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Read on every request and every send: concurrent look-ups share a statement
        # (storage.batched_reads), each read after its caller asked.
        self._standings = BatchedReads(engine, _read_standings, GOOD_STANDING)
        self._first_contacts = BatchedReads(engine, _read_first_contacts, None)
        # The same kept while this node is the only one (storage.kept_reads).
        self._kept_first_contacts = KeptReads(
            engine, (accounts, reported_blocks), self._first_contacts.get_all
        )

    # -- accounts --------------------------------------------------------------

    async def device_pks(self, account_id: int) -> list[int]:
        """The row ids of the account's devices (whose live connections a suspension ends)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(devices.c.id).where(devices.c.account_id == account_id)
            )
            return [int(r[0]) for r in rows]

    async def facts(self, account_ids: Sequence[int]) -> dict[int, AccountFacts]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    accounts.c.id,
                    accounts.c.app,
                    accounts.c.handle,
                    accounts.c.is_minor,
                    accounts.c.created_day,
                ).where(accounts.c.id.in_(list(account_ids)))
            )
            return {
                r.id: AccountFacts(r.id, r.app, r.handle, bool(r.is_minor), r.created_day)
                for r in rows
            }

    async def account_by_address(self, app: str, handle: str) -> AccountFacts | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(accounts.c.id, accounts.c.is_minor, accounts.c.created_day).where(
                        and_(accounts.c.app == app, accounts.c.handle == handle)
                    )
                )
            ).first()
        if row is None:
            return None
        return AccountFacts(row.id, app, handle, bool(row.is_minor), row.created_day)

    async def set_minor(self, account_id: int, is_minor: bool) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(is_minor=is_minor)
            )

    # -- reported blocks ---------------------------------------------------------

    async def report_block(self, blocker: int, blocked: int, day: int) -> bool:
        """Record a block its blocker reported; False if it was already recorded."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(reported_blocks).values(
                        blocker_account_id=blocker, blocked_account_id=blocked, day=day
                    )
                )
        except IntegrityError:
            return False
        return True

    async def remove_block(self, blocker: int, blocked: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(reported_blocks).where(
                    and_(
                        reported_blocks.c.blocker_account_id == blocker,
                        reported_blocks.c.blocked_account_id == blocked,
                    )
                )
            )
            return bool(result.rowcount)

    async def first_contact(
        self, sender: int, recipient: int, *, alone: bool = False
    ) -> FirstContact | None:
        """Whether ``recipient`` reported blocking ``sender``, and whether the sender is
        a minor, in one statement; ``None`` if the sender's account does not exist.
        ``alone``: no other node writes this database (``Fanout.single_node``), so a
        pair read before is answered from memory unless written since."""
        if alone:
            (contact,) = await self._kept_first_contacts.get_all([(sender, recipient)])
            return contact
        return await self._first_contacts.get((sender, recipient))

    async def blockers_since(self, blocked: int, day: int) -> set[int]:
        """The accounts that reported blocking ``blocked`` on or after ``day``."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(reported_blocks.c.blocker_account_id).where(
                    and_(
                        reported_blocks.c.blocked_account_id == blocked,
                        reported_blocks.c.day >= day,
                    )
                )
            )
            return {int(r[0]) for r in rows}

    # -- minors' connections -------------------------------------------------------

    async def connect(self, minor: int, peer: int, day: int) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(minor_connections).values(
                        minor_account_id=minor, peer_account_id=peer, day=day
                    )
                )
        except IntegrityError:
            return

    async def disconnect(self, minor: int, peer: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(minor_connections).where(
                    and_(
                        minor_connections.c.minor_account_id == minor,
                        minor_connections.c.peer_account_id == peer,
                    )
                )
            )

    async def connected(self, minor: int, peer: int) -> bool:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(minor_connections.c.day).where(
                        and_(
                            minor_connections.c.minor_account_id == minor,
                            minor_connections.c.peer_account_id == peer,
                        )
                    )
                )
            ).first()
        return row is not None

    # -- standing and the audit trail ----------------------------------------------

    async def standing(self, account_id: int) -> str:
        return await self._standings.get(account_id)

    async def act(
        self,
        account_id: int,
        action: str,
        *,
        actor: str,
        reason: str,
        signals: Mapping[str, Any],
        now_ms: int,
    ) -> int:
        """Record ``action`` and set the standing it leaves, in one transaction."""
        if action not in STANDING_AFTER:
            raise ValueError(f"unknown moderation action {action!r}")
        encoded = json.dumps(dict(signals), sort_keys=True, separators=(",", ":"))
        if len(encoded) > MAX_SIGNALS_LEN or len(reason) > MAX_REASON_LEN or not reason:
            raise ValueError(f"a reason is 1-{MAX_REASON_LEN} characters, signals bounded")
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(moderation_actions).values(
                    account_id=account_id,
                    action=action,
                    actor=actor,
                    reason=reason,
                    signals=encoded,
                    created_ms=now_ms,
                )
            )
            key = result.inserted_primary_key
            if key is None:
                raise RuntimeError("the database returned no primary key for an insert")
            action_id = int(key[0])
            await conn.execute(
                delete(account_standing).where(account_standing.c.account_id == account_id)
            )
            standing = STANDING_AFTER[action]
            if standing is not None:
                await conn.execute(
                    insert(account_standing).values(
                        account_id=account_id, standing=standing, action_id=action_id
                    )
                )
        return action_id

    async def actions(
        self, account_id: int | None = None, limit: int = 100
    ) -> list[ModerationAction]:
        """The audit trail, newest first (of one account, or of all)."""
        query = (
            select(moderation_actions, accounts.c.app, accounts.c.handle)
            .join(accounts, accounts.c.id == moderation_actions.c.account_id)
            .order_by(moderation_actions.c.id.desc())
            .limit(limit)
        )
        if account_id is not None:
            query = query.where(moderation_actions.c.account_id == account_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                ModerationAction(
                    r.id,
                    f"{r.handle}@{r.app}",
                    r.action,
                    r.actor,
                    r.reason,
                    json.loads(r.signals),
                    r.created_ms,
                )
                for r in rows
            ]

    async def standings(self) -> dict[str, str]:
        """Every account not in good standing, by address."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(accounts.c.app, accounts.c.handle, account_standing.c.standing).join(
                    accounts, accounts.c.id == account_standing.c.account_id
                )
            )
            return {f"{r.handle}@{r.app}": r.standing for r in rows}


_STANDINGS = select(account_standing.c.account_id, account_standing.c.standing).where(
    account_standing.c.account_id.in_(bindparam("ids", expanding=True))
)


def _read_standings(conn: Connection, account_ids: Sequence[int]) -> dict[int, str]:
    rows = conn.execute(_STANDINGS, {"ids": list(account_ids)})
    return {int(r.account_id): str(r.standing) for r in rows}


# Whether each sender is a minor, and which of the recipients reported blocking it.
_FIRST_CONTACTS = (
    select(accounts.c.id, accounts.c.is_minor, reported_blocks.c.blocker_account_id)
    .select_from(
        accounts.outerjoin(
            reported_blocks,
            and_(
                reported_blocks.c.blocked_account_id == accounts.c.id,
                reported_blocks.c.blocker_account_id.in_(bindparam("recipients", expanding=True)),
            ),
        )
    )
    .where(accounts.c.id.in_(bindparam("senders", expanding=True)))
)


def _read_first_contacts(
    conn: Connection, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], FirstContact | None]:
    senders = list({sender for sender, _ in pairs})
    recipients = list({recipient for _, recipient in pairs})
    rows = conn.execute(_FIRST_CONTACTS, {"senders": senders, "recipients": recipients}).all()
    minor = {int(r.id): bool(r.is_minor) for r in rows}
    blocks = {(int(r.id), int(r.blocker_account_id)) for r in rows if r.blocker_account_id}
    return {
        (sender, recipient): FirstContact((sender, recipient) in blocks, minor[sender])
        for sender, recipient in pairs
        if sender in minor
    }
