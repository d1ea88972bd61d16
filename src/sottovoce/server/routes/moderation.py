"""What a person tells the server about their own safety, and what it tells them.

- ``PUT /v1/blocks/{address}``: block *and report* an account. A plain block never
  reaches the server (the client enforces it); reporting one is a choice, which
  lets the server drop that account's unsealed messages to the reporter and count
  the block as an abuse signal (docs/safety.md).
- ``DELETE /v1/blocks/{address}``: withdraw a reported block (unblock).
- ``PUT``/``DELETE /v1/connections/{address}``: a minor accepts or withdraws a
  connection, the only way an adult may find, message or add them to a group.
- ``GET /v1/safety``: whether this account is a minor's and its
  standing, with the reason for the latest moderation action.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from sottovoce.server.auth import today
from sottovoce.server.problems import Problem
from sottovoce.server.routes.accounts import lookup_account
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage.repository import DeviceRecord

router = APIRouter()


class Done(BaseModel):
    """What a change answers: the account it was about."""

    address: str


class SafetyView(BaseModel):
    minor: bool
    standing: str
    reason: str | None


@router.put("/v1/blocks/{address}", response_model=Done)
async def report_block(
    address: str,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> Done:
    blocked = await lookup_account(state, address)
    await state.safety.report_block(device, blocked)
    return Done(address=blocked.address)


@router.delete("/v1/blocks/{address}", response_model=Done)
async def withdraw_block(
    address: str,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> Done:
    blocked = await lookup_account(state, address)
    await state.safety.store.remove_block(device.account_id, blocked.id)
    return Done(address=blocked.address)


async def _minor(state: ServerState, device: DeviceRecord) -> None:
    facts = (await state.safety.store.facts([device.account_id])).get(device.account_id)
    if facts is None or not facts.is_minor:
        # An adult's connections are its own business: the server keeps none.
        raise Problem(400, "not-a-minor", "only minors' accounts record connections")


@router.put("/v1/connections/{address}", response_model=Done)
async def accept_connection(
    address: str,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> Done:
    await _minor(state, device)
    peer = await lookup_account(state, address)
    if peer.id == device.account_id:
        raise Problem(400, "cannot-connect-self", "an account cannot connect with itself")
    await state.safety.store.connect(device.account_id, peer.id, today())
    return Done(address=peer.address)


@router.delete("/v1/connections/{address}", response_model=Done)
async def withdraw_connection(
    address: str,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> Done:
    await _minor(state, device)
    peer = await lookup_account(state, address)
    await state.safety.store.disconnect(device.account_id, peer.id)
    return Done(address=peer.address)


@router.get("/v1/safety", response_model=SafetyView)
async def own_safety(
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> SafetyView:
    store = state.safety.store
    facts = (await store.facts([device.account_id])).get(device.account_id)
    latest = await store.actions(device.account_id, limit=1)
    return SafetyView(
        minor=facts is not None and facts.is_minor,
        standing=await store.standing(device.account_id),
        reason=latest[0].reason if latest else None,
    )
