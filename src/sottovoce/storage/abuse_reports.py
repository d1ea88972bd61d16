"""Verified abuse reports: what a reporter revealed and the server proved was delivered.

Written only by ``server.routes.reports`` after the franking of every message
verified (docs/safety.md); read by moderation. Each method is one transaction
on the Repository's engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.schema import abuse_report_messages, abuse_reports

# How a verified report knows its sender (the `verification` column).
BY_REQUEST_SIGNATURE = "request-signature"
BY_SENDER_CERTIFICATE = "sender-certificate"


class AlreadyReported(Exception):
    """The reporter already reported one of these messages (a replayed report)."""


@dataclass(frozen=True, slots=True)
class ReportedMessage:
    """One revealed message: its delivery as the server tagged it, and its content."""

    message_id: str
    sender: str | None
    sender_device: int | None
    recipient_device: int
    server_ts: int
    content: bytes = field(repr=False)
    sender_certificate: bytes | None
    commitment: bytes
    group_id: bytes | None = None
    """The MLS group of a group message (migration 0010); ``None``: one to one."""


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: int
    reporter_account_id: int
    reporter: str
    reported_account_id: int | None
    reported: str | None
    reason: str
    verification: str
    day: int
    created_ms: int
    messages: tuple[ReportedMessage, ...]


async def store_report(
    engine: AsyncEngine,
    *,
    reporter_account_id: int,
    reporter: str,
    reported_account_id: int | None,
    reported: str | None,
    reason: str,
    verification: str,
    day: int,
    created_ms: int,
    messages: Sequence[ReportedMessage],
) -> int:
    """Store one verified report and its messages; raises :class:`AlreadyReported`."""
    try:
        async with engine.begin() as conn:
            result = await conn.execute(
                insert(abuse_reports).values(
                    reporter_account_id=reporter_account_id,
                    reporter=reporter,
                    reported_account_id=reported_account_id,
                    reported=reported,
                    reason=reason,
                    verification=verification,
                    day=day,
                    created_ms=created_ms,
                )
            )
            key = result.inserted_primary_key
            if key is None:
                raise RuntimeError("the database returned no id for a report")
            report_id = int(key[0])
            await conn.execute(
                insert(abuse_report_messages),
                [
                    {
                        "report_id": report_id,
                        "position": position,
                        "reporter_account_id": reporter_account_id,
                        "message_id": m.message_id,
                        "sender": m.sender,
                        "sender_device": m.sender_device,
                        "recipient_device": m.recipient_device,
                        "server_ts": m.server_ts,
                        "content": m.content,
                        "sender_certificate": m.sender_certificate,
                        "commitment": m.commitment,
                        "group_id": m.group_id,
                    }
                    for position, m in enumerate(messages)
                ],
            )
    except IntegrityError as exc:
        raise AlreadyReported("one of these messages was already reported") from exc
    return report_id


async def list_reports(
    engine: AsyncEngine,
    *,
    reported_account_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[StoredReport]:
    """Reports in filing order (optionally only those naming one account)."""
    query = select(abuse_reports).where(abuse_reports.c.id > after_id)
    if reported_account_id is not None:
        query = query.where(abuse_reports.c.reported_account_id == reported_account_id)
    async with engine.connect() as conn:
        rows = list(await conn.execute(query.order_by(abuse_reports.c.id).limit(limit)))
        if not rows:
            return []
        message_rows = await conn.execute(
            select(abuse_report_messages)
            .where(abuse_report_messages.c.report_id.in_([r.id for r in rows]))
            .order_by(abuse_report_messages.c.report_id, abuse_report_messages.c.position)
        )
        by_report: dict[int, list[ReportedMessage]] = {}
        for m in message_rows:
            by_report.setdefault(int(m.report_id), []).append(
                ReportedMessage(
                    m.message_id,
                    m.sender,
                    m.sender_device,
                    m.recipient_device,
                    m.server_ts,
                    bytes(m.content),
                    None if m.sender_certificate is None else bytes(m.sender_certificate),
                    bytes(m.commitment),
                    None if m.group_id is None else bytes(m.group_id),
                )
            )
    return [
        StoredReport(
            int(r.id),
            r.reporter_account_id,
            r.reporter,
            r.reported_account_id,
            r.reported,
            r.reason,
            r.verification,
            r.day,
            r.created_ms,
            tuple(by_report.get(int(r.id), ())),
        )
        for r in rows
    ]


async def get_report(engine: AsyncEngine, report_id: int) -> StoredReport | None:
    found = await list_reports(engine, after_id=report_id - 1, limit=1)
    return found[0] if found and found[0].id == report_id else None
