"""The operator's moderation desk, on the server's database through the storage layer.

``sottovoce moderation`` uses it the way ``sottovoce server --db`` uses the
database: review the verified abuse reports, act on an account (warn, restrict,
suspend, restore) with a reason, and read the audit trail of every action,
automatic or not. It can see only what DESIGN.md lets the server hold: reports
(with the messages their reporters chose to reveal), account metadata, standing.

Given the nodes' Redis (``--redis``), a suspension also wakes the account's live
connections through the fan-out, and whichever node holds one closes it at once;
without it, each node notices within ``limits.SUSPENSION_RECHECK_S``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from sottovoce.fanout.redis import channel
from sottovoce.server import limits
from sottovoce.server.cluster import CONNECT_TIMEOUT_S
from sottovoce.storage import abuse_reports
from sottovoce.storage.abuse_reports import StoredReport
from sottovoce.storage.repository import Repository
from sottovoce.storage.safety import STANDING_AFTER, ModerationAction, SafetyStore

OPERATOR = "operator"
ACTIONS = tuple(STANDING_AFTER)


class ModerationError(Exception):
    """An operator's request that cannot be carried out, said in one line."""


@dataclass(frozen=True, slots=True)
class AccountStanding:
    address: str
    standing: str
    created_day: int
    is_minor: bool


class Moderation:
    def __init__(self, repo: Repository, redis_url: str | None = None) -> None:
        self._repo = repo
        self._store = SafetyStore(repo.engine)
        self._redis_url = redis_url

    @classmethod
    async def open(cls, db_url: str, redis_url: str | None = None) -> Moderation:
        """Open (and migrate, as the server would) the database at ``db_url``; with
        the nodes' ``redis_url``, suspensions end live connections at once."""
        repo = Repository.connect(db_url)
        try:
            await repo.migrate()
        except Exception as exc:
            await repo.close()
            raise ModerationError(f"cannot open the server database: {type(exc).__name__}") from exc
        return cls(repo, redis_url)

    async def close(self) -> None:
        await self._repo.close()

    async def _account_id(self, address: str) -> int:
        handle, _, app = address.partition("@")
        facts = await self._store.account_by_address(app, handle)
        if facts is None:
            raise ModerationError(f"{address} does not exist")
        return facts.id

    async def reports(self, address: str | None = None, after_id: int = 0) -> list[StoredReport]:
        """Verified reports in filing order, of one reported account or all."""
        account_id = None if address is None else await self._account_id(address)
        return await abuse_reports.list_reports(
            self._repo.engine, reported_account_id=account_id, after_id=after_id
        )

    async def act(
        self, address: str, action: str, reason: str, report_id: int | None = None
    ) -> int:
        """Record an operator's action and set the standing it leaves; its id."""
        if action not in ACTIONS:
            raise ModerationError(f"the action is one of {', '.join(ACTIONS)}, not {action!r}")
        account_id = await self._account_id(address)
        signals: dict[str, object] = {}
        if report_id is not None:
            report = await abuse_reports.get_report(self._repo.engine, report_id)
            if report is None or report.reported_account_id != account_id:
                raise ModerationError(f"report {report_id} is not a report about {address}")
            signals = {"report_id": report_id, "report_reason": report.reason}
        try:
            action_id = await self._store.act(
                account_id,
                action,
                actor=OPERATOR,
                reason=reason,
                signals=signals,
                now_ms=int(time.time() * 1000),
            )
        except ValueError as exc:
            raise ModerationError(str(exc)) from exc
        if action == "suspend":
            await self._wake_live_connections(account_id)
        return action_id

    async def _wake_live_connections(self, account_id: int) -> None:
        """Publish a wake-up for each device of the account on the nodes' fan-out."""
        if self._redis_url is None:
            return
        client = Redis.from_url(self._redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        try:
            for device_pk in await self._store.device_pks(account_id):
                await client.publish(channel(device_pk), b"")
        except (OSError, RedisError) as exc:
            raise ModerationError(
                "the account is suspended, but the nodes could not be told at once "
                f"({type(exc).__name__}); they notice within {limits.SUSPENSION_RECHECK_S:.0f} s"
            ) from exc
        finally:
            await client.aclose()

    async def audit(self, address: str | None = None, limit: int = 100) -> list[ModerationAction]:
        """The audit trail, newest first."""
        account_id = None if address is None else await self._account_id(address)
        return await self._store.actions(account_id, limit)

    async def standing(self, address: str) -> AccountStanding:
        account_id = await self._account_id(address)
        facts = (await self._store.facts([account_id]))[account_id]
        return AccountStanding(
            address, await self._store.standing(account_id), facts.created_day, facts.is_minor
        )

    async def not_in_good_standing(self) -> dict[str, str]:
        return await self._store.standings()
