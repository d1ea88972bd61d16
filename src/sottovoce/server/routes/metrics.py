"""``GET /metrics``: this node's figures for Prometheus (server.metrics).

Unauthenticated, as scrapers expect; it names no account, device or message. An
operator who does not want it public keeps it off the load balancer's routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import func, select

from sottovoce.server import metrics
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage.schema import queued_messages

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus(state: ServerState = Depends(server_state)) -> Response:
    per_device = (
        select(func.count().label("n"))
        .select_from(queued_messages)
        .group_by(queued_messages.c.recipient_device_pk)
        .subquery()
    )
    async with state.repo.engine.connect() as conn:
        queued, deepest = (
            await conn.execute(
                select(func.coalesce(func.sum(per_device.c.n), 0), func.max(per_device.c.n))
            )
        ).one()
    metrics.QUEUED.set(int(queued or 0))
    metrics.QUEUE_DEEPEST.set(int(deepest or 0))
    metrics.REDIS_CONNECTED.set(1 if getattr(state.fanout, "connected", False) else 0)
    # Asked for here: a node loads prometheus_client's exposition (and its HTTP
    # servers) on its first scrape, not at start (server/node_imports.py).
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
