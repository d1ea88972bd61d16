"""Storage for the lawful-request workflow (server.legal), on the Repository's engine.

Every read of user records here names its columns one by one: the disclosure
package can only ever be built from what these queries return, and they return
only what DESIGN.md lets the server hold, never a ciphertext body.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, column, delete, func, insert, inspect, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sottovoce.storage.schema import (
    accounts,
    devices,
    legal_audit,
    legal_authorities,
    legal_notices,
    legal_preservations,
    legal_requests,
    queued_messages,
)

# Two writers racing for the same audit sequence number: one wins, the other
# re-reads the head and tries again. More than this many losses is a fault.
AUDIT_APPEND_ATTEMPTS = 20
MS_PER_DAY = 86_400_000

# How a server-originated notice appears in a device's queue (docs/legal.md "Notices").
OPERATOR_SENDER = "operator"
OPERATOR_NOTICE_TYPE = "operator-notice"


class AuthorityExists(Exception):
    """An authority with this id is already registered."""


class UnknownAuthority(Exception):
    """No authority has this id."""


@dataclass(frozen=True, slots=True)
class AuthorityRow:
    id: str
    name: str
    country: str
    kind: str
    public_key: bytes
    agreements: tuple[str, ...]
    added_day: int
    revoked_day: int | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    at_ms: int
    entry: bytes
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    pk: int
    device_id: int
    identity: bytes
    created_day: int
    last_seen_day: int


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """The held records of one account, column by column (DESIGN.md's list)."""

    app: str
    handle: str
    created_day: int
    is_minor: bool
    devices: tuple[DeviceFacts, ...]


@dataclass(frozen=True, slots=True)
class GroupFacts:
    group_id: bytes
    epoch: int
    member_devices: int
    account_devices: tuple[int, ...]  # device pks of the named account


@dataclass(frozen=True, slots=True)
class LogPosition:
    leaf_index: int
    kind: str  # "account-key" or "device-list"
    device_list_version: int | None


@dataclass(frozen=True, slots=True)
class SafetyFacts:
    reported_block_days: tuple[int, ...]
    moderation_actions: tuple[tuple[str, int], ...]  # (action, day)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Preserved records of one account (canonical JSON of whitelisted fields)."""

    request_id: str
    taken_day: int
    until_day: int
    records: bytes


@dataclass(frozen=True, slots=True)
class NoticeRow:
    id: int
    request_id: str
    app: str
    handle: str
    due_day: int


def _blob(value: Any) -> bytes:
    """A stored byte string, even one an edit behind the server's back turned into text
    (SQLite's replace() returns TEXT): the audit check must report it, not crash."""
    return value.encode() if isinstance(value, str) else bytes(value)


def _authority(row: Any) -> AuthorityRow:
    return AuthorityRow(
        row.id,
        row.name,
        row.country,
        row.kind,
        row.public_key,
        tuple(a for a in row.agreements.split(",") if a),
        row.added_day,
        row.revoked_day,
    )


class LegalStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- authorities -------------------------------------------------------------

    async def add_authority(self, authority: AuthorityRow) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(legal_authorities).values(
                        id=authority.id,
                        name=authority.name,
                        country=authority.country,
                        kind=authority.kind,
                        public_key=authority.public_key,
                        agreements=",".join(authority.agreements),
                        added_day=authority.added_day,
                        revoked_day=None,
                    )
                )
        except IntegrityError as exc:
            raise AuthorityExists(authority.id) from exc

    async def authority(self, authority_id: str) -> AuthorityRow | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(legal_authorities).where(legal_authorities.c.id == authority_id)
                )
            ).first()
        return None if row is None else _authority(row)

    async def authorities(self) -> list[AuthorityRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(legal_authorities).order_by(legal_authorities.c.id))
            return [_authority(r) for r in rows]

    async def revoke_authority(self, authority_id: str, day: int) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(legal_authorities)
                .where(
                    and_(
                        legal_authorities.c.id == authority_id,
                        legal_authorities.c.revoked_day.is_(None),
                    )
                )
                .values(revoked_day=day)
            )
            if not result.rowcount:
                found = (
                    await conn.execute(
                        select(legal_authorities.c.id).where(legal_authorities.c.id == authority_id)
                    )
                ).first()
                if found is None:
                    raise UnknownAuthority(authority_id)

    # -- request ids ---------------------------------------------------------------

    async def remember_request(
        self, request_id: str, authority_id: str, process_type: str, now_ms: int
    ) -> bool:
        """Record a verified request id; False if it was seen before (a replay)."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(legal_requests).values(
                        request_id=request_id,
                        authority_id=authority_id,
                        process_type=process_type,
                        received_ms=now_ms,
                    )
                )
        except IntegrityError:
            return False
        return True

    # -- held records (the only source of a disclosure package) ----------------------

    async def account_facts(self, app: str, handle: str) -> AccountFacts | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        accounts.c.id,
                        accounts.c.app,
                        accounts.c.handle,
                        accounts.c.created_day,
                        accounts.c.is_minor,
                    ).where(and_(accounts.c.app == app, accounts.c.handle == handle))
                )
            ).first()
            if row is None:
                return None
            device_rows = await conn.execute(
                select(
                    devices.c.id,
                    devices.c.device_id,
                    devices.c.identity,
                    devices.c.created_day,
                    devices.c.last_seen_day,
                )
                .where(devices.c.account_id == row.id)
                .order_by(devices.c.device_id)
            )
            return AccountFacts(
                row.app,
                row.handle,
                row.created_day,
                bool(row.is_minor),
                tuple(
                    DeviceFacts(d.id, d.device_id, d.identity, d.created_day, d.last_seen_day)
                    for d in device_rows
                ),
            )

    async def queued_counts(
        self, device_pks: Collection[int], from_ms: int, to_ms: int
    ) -> dict[int, int]:
        """How many ciphertexts wait for each device, arrived in [from_ms, to_ms).
        Counts only: the query never selects a body."""
        if not device_pks:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(queued_messages.c.recipient_device_pk, func.count())
                .where(
                    and_(
                        queued_messages.c.recipient_device_pk.in_(list(device_pks)),
                        queued_messages.c.server_ts >= from_ms,
                        queued_messages.c.server_ts < to_ms,
                    )
                )
                .group_by(queued_messages.c.recipient_device_pk)
            )
            return {int(pk): int(n) for pk, n in rows}

    # -- held records of other features, when this server runs them ---------------------
    # Groups, key transparency and safety controls keep their own tables. They are
    # read here by table and column name (not through their schema objects), and
    # only when the database has them, so a package says "not held" on a server
    # without the feature instead of failing.

    async def _has(self, conn: AsyncConnection, name: str, columns: Collection[str]) -> bool:
        def check(sync_conn: Any) -> bool:
            inspector = inspect(sync_conn)
            if not inspector.has_table(name):
                return False
            return set(columns) <= {c["name"] for c in inspector.get_columns(name)}

        return bool(await conn.run_sync(check))

    async def group_memberships(self, device_pks: Collection[int]) -> list[GroupFacts] | None:
        """Groups with a device of the account as a member (MLS: group id, epoch,
        member devices); None when this server keeps no group records."""
        groups = table("mls_groups", column("id"), column("group_id"), column("epoch"))
        members = table("mls_group_members", column("group_pk"), column("device_pk"))
        async with self.engine.connect() as conn:
            if not (
                await self._has(conn, "mls_groups", ("id", "group_id", "epoch"))
                and await self._has(conn, "mls_group_members", ("group_pk", "device_pk"))
            ):
                return None
            if not device_pks:
                return []
            rows = await conn.execute(
                select(groups.c.id, groups.c.group_id, groups.c.epoch, members.c.device_pk)
                .join(members, members.c.group_pk == groups.c.id)
                .where(members.c.device_pk.in_(list(device_pks)))
                .order_by(groups.c.id)
            )
            found: dict[int, tuple[bytes, int, list[int]]] = {}
            for group_pk, group_id, epoch, device_pk in rows:
                found.setdefault(int(group_pk), (bytes(group_id), int(epoch), []))[2].append(
                    int(device_pk)
                )
            sizes: dict[int, int] = {
                int(group_pk): int(count)
                for group_pk, count in await conn.execute(
                    select(members.c.group_pk, func.count())
                    .where(members.c.group_pk.in_(list(found)))
                    .group_by(members.c.group_pk)
                )
            }
        return [
            GroupFacts(group_id, epoch, sizes.get(pk, 0), tuple(sorted(pks)))
            for pk, (group_id, epoch, pks) in found.items()
        ]

    async def transparency_positions(self, app: str, handle: str) -> list[LogPosition] | None:
        """Where the account's keys and device lists sit in the public key-transparency
        log; None when this server keeps no log."""
        log_accounts = table("transparency_accounts", column("account_id"), column("key_leaf"))
        history = table(
            "device_list_history", column("account_id"), column("version"), column("leaf")
        )
        async with self.engine.connect() as conn:
            if not (
                await self._has(conn, "transparency_accounts", ("account_id", "key_leaf"))
                and await self._has(conn, "device_list_history", ("account_id", "version", "leaf"))
            ):
                return None
            account_id = (
                await conn.execute(
                    select(accounts.c.id).where(
                        and_(accounts.c.app == app, accounts.c.handle == handle)
                    )
                )
            ).scalar()
            if account_id is None:
                return []
            positions = [
                LogPosition(int(leaf), "account-key", None)
                for (leaf,) in await conn.execute(
                    select(log_accounts.c.key_leaf).where(log_accounts.c.account_id == account_id)
                )
            ]
            positions += [
                LogPosition(int(leaf), "device-list", int(version))
                for version, leaf in await conn.execute(
                    select(history.c.version, history.c.leaf)
                    .where(history.c.account_id == account_id)
                    .order_by(history.c.version)
                )
            ]
        return positions

    async def safety_records(self, app: str, handle: str) -> SafetyFacts | None:
        """Reported blocks naming the account (days only, never who reported) and
        moderation actions on it; None when this server keeps no safety records."""
        blocks = table("reported_blocks", column("blocked_account_id"), column("day"))
        actions = table(
            "moderation_actions", column("account_id"), column("action"), column("created_ms")
        )
        async with self.engine.connect() as conn:
            if not (
                await self._has(conn, "reported_blocks", ("blocked_account_id", "day"))
                and await self._has(
                    conn, "moderation_actions", ("account_id", "action", "created_ms")
                )
            ):
                return None
            account_id = (
                await conn.execute(
                    select(accounts.c.id).where(
                        and_(accounts.c.app == app, accounts.c.handle == handle)
                    )
                )
            ).scalar()
            if account_id is None:
                return SafetyFacts((), ())
            block_days = tuple(
                int(day)
                for (day,) in await conn.execute(
                    select(blocks.c.day)
                    .where(blocks.c.blocked_account_id == account_id)
                    .order_by(blocks.c.day)
                )
            )
            action_rows = tuple(
                (str(action), int(created_ms) // MS_PER_DAY)
                for action, created_ms in await conn.execute(
                    select(actions.c.action, actions.c.created_ms)
                    .where(actions.c.account_id == account_id)
                    .order_by(actions.c.created_ms)
                )
            )
        return SafetyFacts(block_days, action_rows)

    # -- preservation ------------------------------------------------------------------

    async def preserve(
        self,
        request_id: str,
        snapshots: Iterable[tuple[str, str, bytes]],
        until_day: int,
        taken_day: int,
    ) -> None:
        """Preserve each ``(app, handle, snapshot)`` until ``until_day``."""
        rows = [
            {
                "request_id": request_id,
                "app": app,
                "handle": handle,
                "until_day": until_day,
                "taken_day": taken_day,
                "snapshot": snapshot,
            }
            for app, handle, snapshot in snapshots
        ]
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(insert(legal_preservations), rows)

    async def expire_preservations(self, day: int) -> int:
        """Drop preservations (and their snapshots) whose period ended before ``day``."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(legal_preservations).where(legal_preservations.c.until_day < day)
            )
            return int(result.rowcount or 0)

    async def preserved_snapshots(self, app: str, handle: str, day: int) -> list[Snapshot]:
        """The account's preservations still in force on ``day``, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    legal_preservations.c.request_id,
                    legal_preservations.c.taken_day,
                    legal_preservations.c.until_day,
                    legal_preservations.c.snapshot,
                )
                .where(
                    and_(
                        legal_preservations.c.app == app,
                        legal_preservations.c.handle == handle,
                        legal_preservations.c.until_day >= day,
                    )
                )
                .order_by(legal_preservations.c.id)
            )
            return [
                Snapshot(r.request_id, int(r.taken_day), int(r.until_day), bytes(r.snapshot))
                for r in rows
            ]

    async def is_preserved(self, app: str, handle: str, day: int) -> bool:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(legal_preservations.c.id)
                    .where(
                        and_(
                            legal_preservations.c.app == app,
                            legal_preservations.c.handle == handle,
                            legal_preservations.c.until_day >= day,
                        )
                    )
                    .limit(1)
                )
            ).first()
        return row is not None

    async def preserved_device_pks(self, day: int) -> set[int]:
        """Devices of every account under preservation on ``day``."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(devices.c.id)
                .join(accounts, accounts.c.id == devices.c.account_id)
                .join(
                    legal_preservations,
                    and_(
                        legal_preservations.c.app == accounts.c.app,
                        legal_preservations.c.handle == accounts.c.handle,
                    ),
                )
                .where(legal_preservations.c.until_day >= day)
                .distinct()
            )
            return {int(pk) for (pk,) in rows}

    # -- notices -------------------------------------------------------------------------

    async def schedule_notices(
        self, request_id: str, names: Iterable[tuple[str, str]], due_day: int
    ) -> None:
        rows = [
            {"request_id": request_id, "app": app, "handle": handle, "due_day": due_day}
            for app, handle in names
        ]
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(insert(legal_notices), rows)

    async def due_notices(self, day: int) -> list[NoticeRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    legal_notices.c.id,
                    legal_notices.c.request_id,
                    legal_notices.c.app,
                    legal_notices.c.handle,
                    legal_notices.c.due_day,
                )
                .where(
                    and_(legal_notices.c.delivered_day.is_(None), legal_notices.c.due_day <= day)
                )
                .order_by(legal_notices.c.id)
            )
            return [NoticeRow(r.id, r.request_id, r.app, r.handle, r.due_day) for r in rows]

    async def deliver_notice(
        self, notice_id: int, day: int, now_ms: int, message_id: str, body: bytes
    ) -> list[int]:
        """Queue ``body`` (a signed operator notice) for every device of the notice's
        account and mark it delivered, in one transaction; the device pks queued to.
        An account that no longer exists gets nothing, and the notice is closed."""
        async with self.engine.begin() as conn:
            notice = (
                await conn.execute(
                    select(legal_notices.c.app, legal_notices.c.handle).where(
                        and_(
                            legal_notices.c.id == notice_id,
                            legal_notices.c.delivered_day.is_(None),
                        )
                    )
                )
            ).first()
            if notice is None:
                return []
            device_pks = [
                int(pk)
                for (pk,) in await conn.execute(
                    select(devices.c.id)
                    .join(accounts, accounts.c.id == devices.c.account_id)
                    .where(and_(accounts.c.app == notice.app, accounts.c.handle == notice.handle))
                )
            ]
            if device_pks:
                await conn.execute(
                    insert(queued_messages),
                    [
                        {
                            "recipient_device_pk": pk,
                            # No device sent this: the operator did, and 0 is no device's pk.
                            "sender_device_pk": 0,
                            "sender": OPERATOR_SENDER,
                            "sender_device": 0,
                            "message_id": message_id,
                            "type": OPERATOR_NOTICE_TYPE,
                            "body": body,
                            "server_ts": now_ms,
                        }
                        for pk in device_pks
                    ],
                )
            await conn.execute(
                update(legal_notices)
                .where(legal_notices.c.id == notice_id)
                .values(delivered_day=day)
            )
        return device_pks

    # -- the audit chain -------------------------------------------------------------------

    async def append_audit(
        self,
        at_ms: int,
        entry_for: Callable[[int], bytes],
        chain: Callable[[bytes, bytes], bytes],
        genesis: bytes,
    ) -> AuditRow:
        """Append one entry after the current head: ``entry_for(seq)`` makes it,
        ``chain(prev_hash, entry)`` hashes it. Serialized by the primary key."""
        for _ in range(AUDIT_APPEND_ATTEMPTS):
            try:
                async with self.engine.begin() as conn:
                    head = (
                        await conn.execute(
                            select(legal_audit.c.seq, legal_audit.c.hash)
                            .order_by(legal_audit.c.seq.desc())
                            .limit(1)
                        )
                    ).first()
                    seq = 1 if head is None else int(head.seq) + 1
                    prev = genesis if head is None else bytes(head.hash)
                    entry = entry_for(seq)
                    row = AuditRow(seq, at_ms, entry, prev, chain(prev, entry))
                    await conn.execute(
                        insert(legal_audit).values(
                            seq=row.seq,
                            at_ms=row.at_ms,
                            entry=row.entry,
                            prev_hash=row.prev_hash,
                            hash=row.hash,
                        )
                    )
                return row
            except IntegrityError:
                continue
        raise RuntimeError("the audit chain head kept moving; no entry was appended")

    async def audit_rows(self) -> list[AuditRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(legal_audit).order_by(legal_audit.c.seq))
            return [
                AuditRow(
                    int(r.seq), int(r.at_ms), _blob(r.entry), _blob(r.prev_hash), _blob(r.hash)
                )
                for r in rows
            ]
