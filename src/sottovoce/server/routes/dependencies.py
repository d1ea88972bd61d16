"""The authenticated-device dependency shared by every protected route."""

from __future__ import annotations

from fastapi import Depends, Request

from sottovoce.server.auth import authenticate, today
from sottovoce.server.problems import Problem
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage.repository import DeviceRecord


def path_with_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


async def authenticated_device(
    request: Request, state: ServerState = Depends(server_state)
) -> DeviceRecord:
    body = await request.body()
    auth = await authenticate(
        state.repo,
        state.nonces,
        request.headers.get("authorization"),
        request.method,
        path_with_query(request),
        body,
    )
    if not await state.rate.admit(auth.device.pk):
        raise Problem(429, "rate-limited", "too many requests from this device; slow down")
    await state.record_connection(auth.device.pk, today())
    await state.safety.refuse_if_suspended(auth.device, auth.standing)
    return auth.device
