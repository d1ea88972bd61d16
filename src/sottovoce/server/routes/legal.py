"""Legal requests from authorities, the operator's key, and the transparency report.

An authority POSTs its signed request document as the body of
``/v1/legal/requests``; the document's signatures are its authentication. The
answer is the signed disclosure package (JSON and its HTML rendering), or a
problem document whose ``reason`` names the check that refused it. The report
is public at ``/transparency`` (HTML), ``/transparency.json`` and
``/transparency.csv``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from sottovoce.server import limits
from sottovoce.server.legal.audit import parsed_entries, verify_chain
from sottovoce.server.legal.desk import LegalDesk, legal_directory
from sottovoce.server.legal.errors import LegalConfigError
from sottovoce.server.legal.report import build_report, parse_period, report_csv, report_html
from sottovoce.server.problems import Problem, problem_response
from sottovoce.server.state import RateLimiter, ServerState, server_state
from sottovoce.storage.legal import LegalStore

router = APIRouter()
log = logging.getLogger("sottovoce.server.legal")


def _unavailable(exc: LegalConfigError) -> Problem:
    log.error("the legal desk is misconfigured: %s", exc)
    return Problem(503, "legal-unavailable", "legal requests cannot be answered right now")


def legal_desk(state: ServerState) -> LegalDesk:
    """The desk of this server, opened on first use (key and policy from the legal dir)."""
    desk: LegalDesk | None = getattr(state, "_legal_desk", None)
    if desk is None:
        settings = state.settings
        try:
            desk = LegalDesk.open(
                LegalStore(state.repo.engine),
                legal_directory(settings.db_url, settings.legal_dir),
                settings.retention.undelivered_days,
            )
        except LegalConfigError as exc:
            raise _unavailable(exc) from exc
        state._legal_desk = desk  # type: ignore[attr-defined]
    return desk


async def deliver_notices_forever(state: ServerState) -> None:
    """Send due user notices at start and then every LEGAL_NOTICE_INTERVAL_S."""
    while True:
        try:
            await legal_desk(state).deliver_due_notices(state.fanout.publish)
        except Exception as exc:  # retried at the next interval
            log.warning("delivering legal notices failed: %s", type(exc).__name__)
        await asyncio.sleep(limits.LEGAL_NOTICE_INTERVAL_S)


def _admitted(state: ServerState) -> bool:
    """The server-wide bucket for legal submissions (one key: no client is named)."""
    bucket: RateLimiter | None = getattr(state, "_legal_rate", None)
    if bucket is None:
        bucket = RateLimiter(limits.LEGAL_REQUESTS_PER_SECOND, limits.LEGAL_REQUEST_BURST)
        state._legal_rate = bucket  # type: ignore[attr-defined]
    return bucket.allow(0)


@router.post("/v1/legal/requests")
async def submit_request(request: Request, state: ServerState = Depends(server_state)) -> Any:
    if not _admitted(state):
        raise Problem(429, "rate-limited", "too many legal requests at once; retry shortly")
    desk = legal_desk(state)
    try:
        outcome = await desk.submit(await request.body())
    except LegalConfigError as exc:  # the operator key file is unreadable
        raise _unavailable(exc) from exc
    if not outcome.accepted:
        return problem_response(
            outcome.status,
            "legal-request-rejected",
            outcome.detail or "",
            {"reason": outcome.reason},
        )
    await desk.deliver_due_notices(state.fanout.publish)
    return JSONResponse({"package": outcome.package, "package_html": outcome.html})


def _published_key(state: ServerState) -> str:
    try:
        return base64.b64encode(legal_desk(state).operator_key.public).decode()
    except LegalConfigError as exc:
        raise _unavailable(exc) from exc


@router.get("/v1/legal/operator-key")
async def operator_key(state: ServerState = Depends(server_state)) -> dict[str, str]:
    """The key that signs packages and user notices (clients also pin it on first use)."""
    return {"operator_key": _published_key(state)}


async def _report(state: ServerState, start: str | None, end: str | None) -> dict[str, Any]:
    try:
        from_day, to_day = parse_period(start, end, datetime.now(UTC).date())
    except ValueError as exc:
        raise Problem(400, "bad-period", str(exc)) from exc
    desk = legal_desk(state)
    rows = await desk.store.audit_rows()
    entries = parsed_entries(rows)
    return build_report(entries, from_day, to_day, verify_chain(rows).head)


FromDay = Query(None, alias="from", max_length=10, description="first day, e.g. 2026-01-01")
ToDay = Query(None, alias="to", max_length=10, description="last day, e.g. 2026-12-31")


@router.get("/transparency", response_class=HTMLResponse)
async def transparency_page(
    start: str | None = FromDay,
    end: str | None = ToDay,
    state: ServerState = Depends(server_state),
) -> Response:
    report = await _report(state, start, end)
    key = _published_key(state)
    return HTMLResponse(report_html(report, key))


@router.get("/transparency.json")
async def transparency_json(
    start: str | None = FromDay,
    end: str | None = ToDay,
    state: ServerState = Depends(server_state),
) -> dict[str, Any]:
    return await _report(state, start, end)


@router.get("/transparency.csv", response_class=PlainTextResponse)
async def transparency_csv(
    start: str | None = FromDay,
    end: str | None = ToDay,
    state: ServerState = Depends(server_state),
) -> Response:
    report = await _report(state, start, end)
    return PlainTextResponse(report_csv(report), media_type="text/csv; charset=utf-8")
