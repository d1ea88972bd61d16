"""Account registration and public account look-up."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from sottovoce.crypto import signing
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.device_list import parse_device_list
from sottovoce.protocol.public.identity import PUBLIC_IDENTITY_LEN, PublicIdentity
from sottovoce.server import limits
from sottovoce.server.auth import (
    check_signature,
    parse_header,
    split_address,
    today,
)
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.problems import Problem
from sottovoce.server.routes.dependencies import authenticated_device, path_with_query
from sottovoce.server.routes.transparency import TransparencyView, transparency_view
from sottovoce.server.state import ServerState, key_directory, server_state
from sottovoce.server.transparency.directory import KeyDirectory
from sottovoce.storage.repository import AccountRecord, DeviceRecord, HandleTaken

HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")

router = APIRouter()


class CreateAccount(BaseModel):
    app: str = Field(max_length=32)
    handle: str = Field(max_length=32)
    account_key: str = Field(max_length=64, description="base64 Ed25519 public key")
    identity: str = Field(max_length=256, description="base64 PublicIdentity")
    device_list: str = Field(max_length=12_000, description="base64 signed DeviceList v1")
    minor: bool = Field(
        default=False, description="the app marks this account a minor's (docs/safety.md)"
    )


class AccountCreated(BaseModel):
    address: str
    device_id: int


class AccountView(BaseModel):
    address: str
    account_key: str
    device_list: str
    # The log entries of this key and list with their proofs (docs/transparency.md).
    transparency: TransparencyView


def check_names(state: ServerState, app: str, handle: str) -> None:
    if app not in state.settings.apps:
        raise Problem(404, "unknown-app", f"this server does not serve the app {app!r}")
    if not HANDLE.fullmatch(handle):
        raise Problem(400, "bad-handle", f"handle must match {HANDLE.pattern}")


@router.post("/v1/accounts", status_code=201, response_model=AccountCreated)
async def create_account(
    body: CreateAccount, request: Request, state: ServerState = Depends(server_state)
) -> AccountCreated:
    check_names(state, body.app, body.handle)
    if body.minor and not state.safety.policy(body.app).marks_minors:
        raise Problem(400, "app-does-not-mark-minors", f"the app {body.app!r} marks no minors")
    address = f"{body.handle}@{body.app}"
    account_key = b64decode(body.account_key, "account_key", max_len=signing.PUBLIC_KEY_LEN)
    if len(account_key) != signing.PUBLIC_KEY_LEN:
        raise Problem(400, "bad-keys", f"account_key must be {signing.PUBLIC_KEY_LEN} bytes")
    identity_bytes = b64decode(body.identity, "identity", max_len=PUBLIC_IDENTITY_LEN)
    device_list = b64decode(body.device_list, "device_list", max_len=limits.MAX_DEVICE_LIST_BYTES)
    try:
        identity = PublicIdentity.from_bytes(identity_bytes)
        devices = parse_device_list(device_list, account_key)
    except ProtocolError as exc:
        raise Problem(400, "bad-keys", str(exc)) from exc
    entry = devices.device(1)
    if (
        devices.address != address
        or devices.version != 1
        or len(devices.devices) != 1
        or entry is None
        or entry.identity != identity
    ):
        raise Problem(
            400, "bad-device-list", "a new account's device list is version 1 with only device 1"
        )
    parsed = parse_header(request.headers.get("authorization"))
    if parsed.address != address or parsed.device_id != 1:
        raise Problem(401, "unauthenticated", "sign account creation as device 1 of the address")
    check_signature(
        parsed, identity_bytes, state.nonces, "POST", path_with_query(request), await request.body()
    )
    try:
        created = await state.repo.create_account(
            app=body.app,
            handle=body.handle,
            account_key=account_key,
            device_list=device_list,
            device_list_version=1,
            identity=identity_bytes,
            day=today(),
            is_minor=body.minor,
        )
    except HandleTaken as exc:
        raise Problem(409, "handle-taken", f"{address} already exists") from exc
    directory = await key_directory(request)
    await directory.account_created(created.account_id, address, account_key, device_list, 1)
    return AccountCreated(address=address, device_id=1)


@router.get("/v1/accounts/{app}/{handle}", response_model=AccountView)
async def get_account(
    app: str,
    handle: str,
    requester: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
    directory: KeyDirectory = Depends(key_directory),
) -> AccountView:
    account = await state.repo.account(app, handle)
    if account is None:
        raise Problem(404, "unknown-account", f"{handle}@{app} does not exist")
    await state.safety.require_reachable(requester, account, "adults_may_find")
    return AccountView(
        address=account.address,
        account_key=b64encode(account.account_key),
        device_list=b64encode(account.device_list),
        transparency=await transparency_view(directory, account.id),
    )


async def lookup_account(state: ServerState, address: str) -> AccountRecord:
    app, handle = split_address(address)
    account = await state.repo.account(app, handle)
    if account is None:
        raise Problem(404, "unknown-account", f"{address} does not exist")
    return account


async def lookup_accounts(state: ServerState, *addresses: str) -> list[AccountRecord]:
    """:func:`lookup_account` for several addresses, read in one statement, or kept
    from an earlier read while this node is the only one (storage.kept_reads)."""
    found = await state.repo.accounts(
        *(split_address(a) for a in addresses), alone=state.fanout.single_node
    )
    for address, account in zip(addresses, found, strict=True):
        if account is None:
            raise Problem(404, "unknown-account", f"{address} does not exist")
    return [a for a in found if a is not None]
