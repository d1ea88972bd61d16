"""What the safety controls read from the verified abuse reports (docs/safety.md).

Only reports whose franking the server verified are stored (``server.routes.
reports``), so each row is proof that its reporter really received what it
reports from the account it names.
"""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.schema import abuse_reports


async def verified_reporters_since(engine: AsyncEngine, reported: int, since_ms: int) -> set[int]:
    """The accounts that filed a verified report against ``reported`` after ``since_ms``."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(abuse_reports.c.reporter_account_id).where(
                and_(
                    abuse_reports.c.reported_account_id == reported,
                    abuse_reports.c.created_ms > since_ms,
                )
            )
        )
        return {int(r[0]) for r in rows}
