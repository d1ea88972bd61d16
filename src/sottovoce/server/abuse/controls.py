"""The safety controls the relay applies, from metadata alone (docs/safety.md).

Every decision here reads only what DESIGN.md lets the server hold: an account's
app, creation day and minor flag, blocks a person chose to report, the
connections a minor accepted, verified abuse reports, and each account's
standing. Nothing reads or needs message content.

- Suspended accounts are refused (403) on every authenticated request.
- Minors on an app that marks them are invisible and unreachable to adults they
  have not connected with: look-up, key claims, unsealed first messages and group
  KeyPackage claims all answer 404, the same as for an account that does not
  exist, so the refusal itself reveals nothing.
- A block the recipient reported makes the server drop the blocked account's
  unsealed messages to them, answering the sender exactly as if it had stored
  them (the sender learns nothing, as with Signal and WhatsApp).
- Unsealed messages go to non-contacts (sealed sender covers contacts), so the
  distinct recipients of an account's unsealed messages per day bound how many
  strangers it reaches; new and restricted accounts get tighter bounds. Group
  creation is bounded the same way.
- Verified reports and reported blocks from distinct accounts restrict, then
  suspend, the account they name; each automatic action is recorded with its
  reason and the counts behind it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sottovoce.server import limits
from sottovoce.server.abuse.policy import NO_MINORS, AppPolicy
from sottovoce.server.abuse.reports import verified_reporters_since
from sottovoce.server.problems import Problem
from sottovoce.storage.repository import AccountRecord, DeviceRecord
from sottovoce.storage.safety import (
    AUTOMATIC,
    RESTRICTED,
    SUSPENDED,
    SafetyStore,
)

if TYPE_CHECKING:  # redis-py is loaded only on a node that joins others (server.cluster)
    from sottovoce.server.abuse.shared_counts import SharedDailyCounts

Permission = Literal["adults_may_contact", "adults_may_find", "adults_may_add_to_groups"]
DAY_MS = 86_400_000
# Standings in order of severity: automatic action only ever moves up this list.
SEVERITY = {"ok": 0, "warned": 1, RESTRICTED: 2, SUSPENDED: 3}


def _today() -> int:
    return int(time.time() // 86_400)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _DailyCount:
    """Distinct things counted per account for the current day, in this node's memory."""

    day: int = -1
    seen: dict[int, set[int]] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    # Of ``seen``, those the shared count (Redis) admitted: a day's set there only
    # grows until the day ends, so one already in it is admitted again without asking.
    shared_admitted: dict[int, set[int]] = field(default_factory=dict)

    def roll(self, day: int) -> None:
        if day != self.day:
            self.day, self.seen, self.counts, self.shared_admitted = day, {}, {}, {}


class SafetyControls:
    def __init__(self, store: SafetyStore, policies: Mapping[str, AppPolicy]) -> None:
        self.store = store
        self._policies = dict(policies)
        self._recipients = _DailyCount()
        self._groups = _DailyCount()
        # With Redis (many nodes), the daily counts are shared by every node.
        self.shared: SharedDailyCounts | None = None
        # Wakes a device's live connections on whichever node holds them (the
        # fan-out); set by the server state.
        self.wake: Callable[[int], Awaitable[None]] | None = None

    def policy(self, app: str) -> AppPolicy:
        return self._policies.get(app, NO_MINORS)

    # -- standing --------------------------------------------------------------

    async def refuse_if_suspended(self, device: DeviceRecord, standing: str | None = None) -> None:
        """403 for a suspended account; ``standing`` as this request read it already
        (``auth.Authenticated``), else it is read now."""
        if standing is None:
            standing = await self.store.standing(device.account_id)
        if standing == SUSPENDED:
            raise Problem(
                403,
                "account-suspended",
                f"{device.address} is suspended; the operator reviews suspensions on request",
            )

    async def is_suspended(self, account_id: int) -> bool:
        return await self.store.standing(account_id) == SUSPENDED

    async def end_live_connections(self, account_id: int) -> None:
        """After a suspension: wake every live connection of the account's devices, on
        every node, so that each reads the standing and closes (``routes.websocket``)."""
        if self.wake is None:
            return
        for device_pk in await self.store.device_pks(account_id):
            await self.wake(device_pk)

    # -- minors ----------------------------------------------------------------

    async def shields_minor(
        self,
        requester_account_id: int,
        target_id: int,
        target_app: str,
        permission: Permission,
        minors: tuple[bool, bool] | None = None,
    ) -> bool:
        """Whether the target account is a minor the requester may not reach this way.
        ``minors``: whether the target and the requester are minors, if the caller
        read both accounts already (else they are read now)."""
        policy = self.policy(target_app)
        if not policy.marks_minors or getattr(policy, permission):
            return False
        if requester_account_id == target_id:
            return False
        if minors is None:
            facts = await self.store.facts([requester_account_id, target_id])
            minor, requester = facts.get(target_id), facts.get(requester_account_id)
            minors = (
                minor is not None and minor.is_minor,
                requester is not None and requester.is_minor,
            )
        target_is_minor, requester_is_minor = minors
        if not target_is_minor or requester_is_minor:
            return False
        return not await self.store.connected(target_id, requester_account_id)

    async def require_reachable(
        self,
        requester: DeviceRecord,
        target: AccountRecord,
        permission: Permission,
        requester_account: AccountRecord | None = None,
    ) -> None:
        """404 exactly like an unknown account, so the answer is no minor oracle.
        ``requester_account`` as the request read it already, with ``target``."""
        minors = (
            None if requester_account is None else (target.is_minor, requester_account.is_minor)
        )
        if await self.shields_minor(
            requester.account_id, target.id, target.app, permission, minors
        ):
            raise Problem(404, "unknown-account", f"{target.address} does not exist")

    async def require_addable(self, adder: DeviceRecord, addresses: Iterable[str]) -> None:
        """A commit adding devices of a shielded minor is refused like the claim is."""
        for address in sorted(addresses):
            handle, _, app = address.partition("@")
            target = await self.store.account_by_address(app, handle)
            if target is not None and await self.shields_minor(
                adder.account_id, target.id, app, "adults_may_add_to_groups"
            ):
                raise Problem(404, "unknown-account", f"{address} does not exist")

    # -- unsealed (non-contact) messages ------------------------------------------

    async def admit_unsealed(
        self,
        sender: DeviceRecord,
        recipient: AccountRecord,
        *,
        sender_account: AccountRecord | None = None,
        alone: bool = False,
    ) -> bool:
        """Check an unsealed send before anything is stored. Raises the problem that
        refuses it; returns False when it must be dropped silently (a reported block).
        ``sender_account`` as the send read it already (its creation day is not read
        again); ``alone``: this node is the only one (``SafetyStore.first_contact``)."""
        if sender.account_id == recipient.id:
            return True
        await self.require_reachable(sender, recipient, "adults_may_contact", sender_account)
        created_day = None if sender_account is None else sender_account.created_day
        await self._count_new_recipient(sender.account_id, recipient.id, created_day)
        contact = await self.store.first_contact(sender.account_id, recipient.id, alone=alone)
        if contact is not None and contact.blocked:
            return False
        if contact is not None and contact.sender_is_minor:
            # A minor writing first is the minor accepting the connection.
            await self.store.connect(sender.account_id, recipient.id, _today())
        return True

    async def _allowance(
        self,
        account_id: int,
        normal: int,
        new_account: int,
        restricted: int,
        created_day: int | None = None,
    ) -> int:
        """The account's daily bound; ``created_day`` if the caller read it already."""
        if await self.store.standing(account_id) == RESTRICTED:
            return restricted
        if created_day is None:
            facts = (await self.store.facts([account_id])).get(account_id)
            created_day = None if facts is None else facts.created_day
        if created_day is not None and _today() - created_day < limits.NEW_ACCOUNT_DAYS:
            return new_account
        return normal

    async def _count_new_recipient(
        self, account_id: int, recipient_id: int, created_day: int | None = None
    ) -> None:
        day = _today()
        counter = self._recipients
        counter.roll(day)
        seen = counter.seen.setdefault(account_id, set())
        counted = counter.shared_admitted.setdefault(account_id, set())
        # Already counted today, where the count is kept: nothing to read or ask
        # (the send path's cost on many nodes, docs/performance.md).
        if recipient_id in (seen if self.shared is None else counted):
            return
        allowed = await self._allowance(
            account_id,
            limits.NEW_RECIPIENTS_PER_DAY,
            limits.NEW_RECIPIENTS_PER_DAY_NEW_ACCOUNT,
            limits.NEW_RECIPIENTS_PER_DAY_RESTRICTED,
            created_day,
        )
        admitted = None
        if self.shared is not None:
            admitted = await self.shared.admit_recipient(day, account_id, recipient_id, allowed)
            if admitted:
                counted.add(recipient_id)
        if admitted is None:  # one node, or Redis cannot answer: this node's memory
            admitted = recipient_id in seen or len(seen) < allowed
        if not admitted:
            raise Problem(
                429,
                "too-many-new-recipients",
                f"this account may message at most {allowed} new people a day; try tomorrow",
            )
        seen.add(recipient_id)

    # -- groups ------------------------------------------------------------------

    async def admit_group_creation(self, creator: DeviceRecord) -> None:
        day = _today()
        counter = self._groups
        counter.roll(day)
        allowed = await self._allowance(
            creator.account_id,
            limits.GROUPS_PER_DAY,
            limits.GROUPS_PER_DAY_NEW_ACCOUNT,
            limits.GROUPS_PER_DAY_RESTRICTED,
        )
        made = counter.counts.get(creator.account_id, 0)
        admitted = None
        if self.shared is not None:
            admitted = await self.shared.admit_group(day, creator.account_id, allowed)
        if admitted is None:  # one node, or Redis cannot answer: this node's memory
            admitted = made < allowed
        if not admitted:
            raise Problem(
                429,
                "too-many-groups",
                f"this account may create at most {allowed} groups a day; try tomorrow",
            )
        counter.counts[creator.account_id] = made + 1

    # -- reported blocks and automatic action ---------------------------------------

    async def report_block(self, blocker: DeviceRecord, blocked: AccountRecord) -> None:
        if blocked.id == blocker.account_id:
            raise Problem(400, "cannot-block-self", "an account cannot block itself")
        await self.store.report_block(blocker.account_id, blocked.id, _today())
        # A minor blocking someone withdraws any connection it had accepted.
        await self.store.disconnect(blocker.account_id, blocked.id)
        await self.review_signals(blocked.id)

    async def review_signals(self, account_id: int) -> str | None:
        """Restrict or suspend ``account_id`` if enough distinct accounts verified a
        report or reported a block against it since the window opened (and since an
        operator last restored it). Returns the action taken, if any."""
        since = _today() - limits.REPORT_WINDOW_DAYS
        since_ms = since * DAY_MS
        restored = [a for a in await self.store.actions(account_id) if a.action == "restore"]
        if restored:
            # Reported blocks are kept by day: those of the restore's day count no more.
            since = max(since, restored[0].created_ms // DAY_MS + 1)
            since_ms = max(since_ms, restored[0].created_ms)
        blockers = await self.store.blockers_since(account_id, since)
        reporters = await verified_reporters_since(self.store.engine, account_id, since_ms)
        distinct = blockers | reporters
        action: str | None = None
        if len(distinct) >= limits.SUSPEND_AFTER_REPORTERS:
            action = "suspend"
        elif len(distinct) >= limits.RESTRICT_AFTER_REPORTERS:
            action = "restrict"
        if action is None:
            return None
        standing = await self.store.standing(account_id)
        target = SUSPENDED if action == "suspend" else RESTRICTED
        if SEVERITY[standing] >= SEVERITY[target]:
            return None
        signals: dict[str, Any] = {
            "distinct_accounts": len(distinct),
            "verified_reports_from": len(reporters),
            "reported_blocks_from": len(blockers),
            "since_day": since,
            "threshold": limits.SUSPEND_AFTER_REPORTERS
            if action == "suspend"
            else limits.RESTRICT_AFTER_REPORTERS,
        }
        await self.store.act(
            account_id,
            action,
            actor=AUTOMATIC,
            reason=f"{len(distinct)} distinct accounts reported or blocked-and-reported it",
            signals=signals,
            now_ms=_now_ms(),
        )
        if target == SUSPENDED:
            await self.end_live_connections(account_id)
        return action
