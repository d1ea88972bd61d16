"""Storage for the MLS Delivery Service: KeyPackages, groups, their member devices.

Built on the engine of :class:`~sottovoce.storage.repository.Repository`, with
the same rules: handlers never write SQL, each method is one transaction, and
nothing depends on the engine beyond ``RETURNING`` and standard SQL. Group
messages are rows of the one-to-one ``queued_messages`` table, so fetching,
acknowledging, the WebSocket push and retention treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.repository import DeviceRecord, QueueFull, _queued_copy
from sottovoce.storage.schema import (
    accounts,
    devices,
    mls_group_members,
    mls_groups,
    mls_key_packages,
    queued_messages,
)

# Queue types of group messages (docs/api.md): the recipient knows from the type
# alone which MLS structure the body holds.
COMMIT = "mls-commit"
WELCOME = "mls-welcome"
PROPOSAL = "mls-proposal"
APPLICATION = "mls-application"


class GroupExists(Exception):
    """A group with this id is already registered."""


class StaleEpoch(Exception):
    """A commit or message was built on an epoch that is not the group's current one."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the group is at epoch {current}")
        self.current = current


class MembershipConflict(Exception):
    """A commit adds a device already in the group, or the group would grow too big."""


class GroupFull(MembershipConflict):
    """A commit would grow the group beyond its bound."""


class GroupGone(Exception):
    """The group no longer exists: its last member left."""


class TooManyKeyPackages(Exception):
    """An upload would leave a device holding more KeyPackages than allowed."""


@dataclass(frozen=True, slots=True)
class KeyPackageCounts:
    key_packages: int
    last_resort: bool


@dataclass(frozen=True, slots=True)
class ClaimedKeyPackage:
    device_id: int
    key_package: bytes
    last_resort: bool


@dataclass(frozen=True, slots=True)
class GroupRecord:
    pk: int
    group_id: bytes
    epoch: int
    members: tuple[DeviceRecord, ...]

    def has(self, device_pk: int) -> bool:
        return any(m.pk == device_pk for m in self.members)


@dataclass(frozen=True, slots=True)
class GroupSummary:
    group_id: bytes
    epoch: int
    member_devices: int


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit as the server sees it: the epoch it was built on, the sender's
    idempotency key, the MLS bytes, and the member devices it adds and removes (with
    the Welcome for those it adds)."""

    epoch: int
    message_id: str
    body: bytes
    added_pks: Sequence[int]
    removed_pks: Sequence[int]
    welcome: bytes | None


class GroupStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- KeyPackages ---------------------------------------------------------------

    async def store_key_packages(
        self,
        device_pk: int,
        packages: Sequence[tuple[int, bytes]],
        last_resort: tuple[int, bytes] | None,
        max_held: int,
    ) -> KeyPackageCounts:
        """Add one-time KeyPackages ``(cipher suite, bytes)`` and replace the
        last-resort one; :class:`TooManyKeyPackages` leaves everything as it was."""
        async with self.engine.begin() as conn:
            if last_resort is not None:
                await conn.execute(
                    delete(mls_key_packages).where(
                        and_(
                            mls_key_packages.c.device_pk == device_pk,
                            mls_key_packages.c.last_resort.is_(True),
                        )
                    )
                )
                await conn.execute(
                    insert(mls_key_packages).values(
                        device_pk=device_pk,
                        cipher_suite=last_resort[0],
                        last_resort=True,
                        key_package=last_resort[1],
                    )
                )
            if packages:
                await conn.execute(
                    insert(mls_key_packages),
                    [
                        {
                            "device_pk": device_pk,
                            "cipher_suite": suite,
                            "last_resort": False,
                            "key_package": data,
                        }
                        for suite, data in packages
                    ],
                )
            counts = await self._counts(conn, device_pk)
            if counts.key_packages > max_held:
                await conn.rollback()
                raise TooManyKeyPackages(f"a device holds at most {max_held} KeyPackages")
            return counts

    async def key_package_counts(self, device_pk: int) -> KeyPackageCounts:
        async with self.engine.connect() as conn:
            return await self._counts(conn, device_pk)

    @staticmethod
    async def _counts(conn: Any, device_pk: int) -> KeyPackageCounts:
        rows = await conn.execute(
            select(mls_key_packages.c.last_resort, func.count())
            .where(mls_key_packages.c.device_pk == device_pk)
            .group_by(mls_key_packages.c.last_resort)
        )
        counts = {bool(kind): int(n) for kind, n in rows}
        return KeyPackageCounts(counts.get(False, 0), counts.get(True, 0) > 0)

    async def claim_key_packages(
        self, targets: Iterable[DeviceRecord], cipher_suite: int
    ) -> list[ClaimedKeyPackage]:
        """One KeyPackage per device: the oldest one-time package, which leaves the
        table in the same ``DELETE … RETURNING`` statement (so no two claims get it),
        else the device's last-resort package, which stays. A device with neither,
        in this cipher suite, is left out."""
        claimed = []
        async with self.engine.begin() as conn:
            for device in targets:
                of_device = and_(
                    mls_key_packages.c.device_pk == device.pk,
                    mls_key_packages.c.cipher_suite == cipher_suite,
                )
                oldest = (
                    select(mls_key_packages.c.id)
                    .where(and_(of_device, mls_key_packages.c.last_resort.is_(False)))
                    .order_by(mls_key_packages.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
                row = (
                    await conn.execute(
                        delete(mls_key_packages)
                        .where(mls_key_packages.c.id == oldest)
                        .returning(mls_key_packages.c.key_package)
                    )
                ).first()
                if row is not None:
                    claimed.append(ClaimedKeyPackage(device.device_id, row.key_package, False))
                    continue
                row = (
                    await conn.execute(
                        select(mls_key_packages.c.key_package).where(
                            and_(of_device, mls_key_packages.c.last_resort.is_(True))
                        )
                    )
                ).first()
                if row is not None:
                    claimed.append(ClaimedKeyPackage(device.device_id, row.key_package, True))
        return claimed

    # -- groups ----------------------------------------------------------------------

    async def create_group(self, group_id: bytes, creator_pk: int) -> None:
        """Register a group at epoch 0 with its creating device as the only member."""
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(insert(mls_groups).values(group_id=group_id, epoch=0))
                key = result.inserted_primary_key
                assert key is not None
                await conn.execute(
                    insert(mls_group_members).values(group_pk=int(key[0]), device_pk=creator_pk)
                )
        except IntegrityError as exc:
            raise GroupExists("a group with this id exists") from exc

    async def group(self, group_id: bytes) -> GroupRecord | None:
        async with self.engine.connect() as conn:
            return await self._group(conn, group_id)

    @staticmethod
    async def _group(conn: Any, group_id: bytes) -> GroupRecord | None:
        row = (
            await conn.execute(
                select(mls_groups.c.id, mls_groups.c.epoch).where(mls_groups.c.group_id == group_id)
            )
        ).first()
        if row is None:
            return None
        members = await conn.execute(
            select(
                devices.c.id,
                devices.c.account_id,
                devices.c.device_id,
                devices.c.identity,
                accounts.c.handle,
                accounts.c.app,
            )
            .join(mls_group_members, mls_group_members.c.device_pk == devices.c.id)
            .join(accounts, accounts.c.id == devices.c.account_id)
            .where(mls_group_members.c.group_pk == row.id)
            .order_by(accounts.c.app, accounts.c.handle, devices.c.device_id)
        )
        return GroupRecord(
            int(row.id),
            group_id,
            int(row.epoch),
            tuple(
                DeviceRecord(m.id, m.account_id, m.device_id, m.identity, f"{m.handle}@{m.app}")
                for m in members
            ),
        )

    async def groups_of(self, device_pk: int, limit: int) -> list[GroupSummary]:
        """The groups a device is a member of, with their epoch and size."""
        async with self.engine.connect() as conn:
            mine = (
                select(mls_group_members.c.group_pk)
                .where(mls_group_members.c.device_pk == device_pk)
                .scalar_subquery()
            )
            rows = await conn.execute(
                select(mls_groups.c.group_id, mls_groups.c.epoch, func.count())
                .join(mls_group_members, mls_group_members.c.group_pk == mls_groups.c.id)
                .where(mls_groups.c.id.in_(mine))
                .group_by(mls_groups.c.id, mls_groups.c.group_id, mls_groups.c.epoch)
                .order_by(mls_groups.c.id)
                .limit(limit)
            )
            return [GroupSummary(r.group_id, int(r.epoch), int(r[2])) for r in rows]

    async def commit(
        self,
        group: GroupRecord,
        sender: DeviceRecord,
        commit: Commit,
        *,
        server_ts: int,
        max_queue_depth: int,
        max_devices: int,
    ) -> list[int] | None:
        """Advance the group from ``commit.epoch`` by one, apply the membership
        change, queue the commit for every member device but the sender (those it
        removes included, so they learn of it) and the Welcome for the devices it
        adds, all in one transaction. Returns the devices whose queues grew.

        The epoch moves by a compare-and-set (``UPDATE … WHERE epoch = n``), so of
        two concurrent commits on one epoch exactly one wins; the other raises
        :class:`StaleEpoch` naming the current epoch. A retry of the commit that
        won (same device and message id) answers ``None``.
        """
        async with self.engine.begin() as conn:
            moved = await conn.execute(
                update(mls_groups)
                .where(and_(mls_groups.c.id == group.pk, mls_groups.c.epoch == commit.epoch))
                .values(
                    epoch=commit.epoch + 1,
                    last_commit_device_pk=sender.pk,
                    last_commit_message_id=commit.message_id,
                )
            )
            if moved.rowcount != 1:
                row = (
                    await conn.execute(
                        select(
                            mls_groups.c.epoch,
                            mls_groups.c.last_commit_device_pk,
                            mls_groups.c.last_commit_message_id,
                        ).where(mls_groups.c.id == group.pk)
                    )
                ).first()
                if row is None:
                    raise GroupGone("the group no longer exists")
                if (
                    row.epoch == commit.epoch + 1
                    and row.last_commit_device_pk == sender.pk
                    and row.last_commit_message_id == commit.message_id
                ):
                    return None
                raise StaleEpoch(int(row.epoch))
            current = await self._group(conn, group.group_id)
            assert current is not None
            member_pks = {m.pk for m in current.members}
            if sender.pk not in member_pks:
                raise MembershipConflict("the committing device is not a member")
            if sender.pk in commit.removed_pks:
                # RFC 9420 §12.4: a commit never removes its own committer.
                raise MembershipConflict("a device cannot commit its own removal")
            already = member_pks & set(commit.added_pks)
            if already:
                raise MembershipConflict("the commit adds a device that is already a member")
            remaining = (member_pks - set(commit.removed_pks)) | set(commit.added_pks)
            if len(remaining) > max_devices:
                raise GroupFull(f"a group holds at most {max_devices} devices")
            if commit.removed_pks:
                await conn.execute(
                    delete(mls_group_members).where(
                        and_(
                            mls_group_members.c.group_pk == group.pk,
                            mls_group_members.c.device_pk.in_(list(commit.removed_pks)),
                        )
                    )
                )
            if commit.added_pks:
                await conn.execute(
                    insert(mls_group_members),
                    [{"group_pk": group.pk, "device_pk": pk} for pk in commit.added_pks],
                )
            outgoing = [(COMMIT, commit.body, sorted(member_pks - {sender.pk}))]
            if commit.welcome is not None:
                outgoing.append((WELCOME, commit.welcome, sorted(commit.added_pks)))
            return await _queue(
                conn, sender, commit.message_id, outgoing, max_queue_depth, server_ts
            )

    async def send(
        self,
        group: GroupRecord,
        sender: DeviceRecord,
        message_id: str,
        epoch: int,
        kind: str,
        body: bytes,
        *,
        leave: bool,
        server_ts: int,
        max_queue_depth: int,
        tagger: Callable[[DeviceRecord], tuple[bytes, bytes]] | None = None,
    ) -> list[int] | None:
        """Queue a proposal or application message for the group's other member
        devices, if the group is still at ``epoch`` (else :class:`StaleEpoch`).
        ``leave`` also takes the sender out of the fan-out set (its self-Remove
        proposal is on its way to the others), dropping the group when it empties.
        ``None`` answers a retry whose copies are still queued. ``tagger`` gives each
        recipient device's franking commitment and tag (``server.group_franking``)."""
        async with self.engine.begin() as conn:
            if (await conn.execute(_queued_copy(sender.pk, message_id))).first() is not None:
                return None
            row = (
                await conn.execute(select(mls_groups.c.epoch).where(mls_groups.c.id == group.pk))
            ).first()
            if row is None:
                raise GroupGone("the group no longer exists")
            if int(row.epoch) != epoch:
                raise StaleEpoch(int(row.epoch))
            members = await conn.execute(
                select(mls_group_members.c.device_pk).where(
                    mls_group_members.c.group_pk == group.pk
                )
            )
            recipients = sorted(pk for (pk,) in members if pk != sender.pk)
            franking = None
            if tagger is not None:
                current = await self._group(conn, group.group_id)
                assert current is not None
                franking = {m.pk: tagger(m) for m in current.members if m.pk in recipients}
            stored = await _queue(
                conn,
                sender,
                message_id,
                [(kind, body, recipients)],
                max_queue_depth,
                server_ts,
                franking,
            )
            if leave:
                await conn.execute(
                    delete(mls_group_members).where(
                        and_(
                            mls_group_members.c.group_pk == group.pk,
                            mls_group_members.c.device_pk == sender.pk,
                        )
                    )
                )
                left = (
                    await conn.execute(
                        select(func.count())
                        .select_from(mls_group_members)
                        .where(mls_group_members.c.group_pk == group.pk)
                    )
                ).scalar_one()
                if left == 0:
                    await conn.execute(delete(mls_groups).where(mls_groups.c.id == group.pk))
            return stored


async def _queue(
    conn: Any,
    sender: DeviceRecord,
    message_id: str,
    outgoing: Sequence[tuple[str, bytes, Sequence[int]]],
    max_queue_depth: int,
    server_ts: int,
    franking: Mapping[int, tuple[bytes, bytes]] | None = None,
) -> list[int]:
    """Insert one queue row per recipient of each ``(type, body, recipients)`` in one
    batched ``INSERT``, refusing with :class:`QueueFull` when a recipient device
    already holds ``max_queue_depth`` messages. Returns the recipient devices."""
    rows = [
        {
            "recipient_device_pk": pk,
            "sender_device_pk": sender.pk,
            "sender": sender.address,
            "sender_device": sender.device_id,
            "message_id": message_id,
            "type": kind,
            "body": body,
            "server_ts": server_ts,
            "commitment": None if franking is None else franking[pk][0],
            "franking_tag": None if franking is None else franking[pk][1],
        }
        for kind, body, recipients in outgoing
        for pk in recipients
    ]
    if not rows:
        return []
    recipients = sorted({pk for _, _, pks in outgoing for pk in pks})
    depths = await conn.execute(
        select(func.count())
        .select_from(queued_messages)
        .where(queued_messages.c.recipient_device_pk.in_(recipients))
        .group_by(queued_messages.c.recipient_device_pk)
    )
    if any(n >= max_queue_depth for (n,) in depths):
        raise QueueFull(f"a recipient device holds {max_queue_depth} messages")
    await conn.execute(insert(queued_messages), rows)
    return recipients
