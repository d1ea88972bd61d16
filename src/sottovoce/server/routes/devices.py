"""Linked devices: publishing a new signed device list, and the provisioning relay.

A device list is only ever accepted signed by the account key the server holds
for the account, as the next version, naming the address; devices it adds get a
row (their identity is the one the list signs), devices it drops lose theirs
together with their queue and prekeys. Each accepted list is logged.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.device_list import parse_device_list
from sottovoce.server import limits
from sottovoce.server.auth import today
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.problems import Problem
from sottovoce.server.provisioning import ChannelUnknown, TooManyChannels
from sottovoce.server.routes.accounts import lookup_account
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.state import ServerState, key_directory, server_state
from sottovoce.server.transparency.directory import KeyDirectory
from sottovoce.storage.repository import DeviceRecord
from sottovoce.storage.transparency import NewDevice, StaleDeviceList

router = APIRouter()


class PublishDeviceList(BaseModel):
    device_list: str = Field(max_length=12_000, description="base64 signed DeviceList v1")


class DeviceListPublished(BaseModel):
    version: int
    device_ids: list[int]


class ChannelOpened(BaseModel):
    channel: str


class ProvisioningMessage(BaseModel):
    message: str = Field(max_length=4 * limits.MAX_PROVISIONING_BYTES // 3 + 4)


class Collected(BaseModel):
    message: str | None


@router.put("/v1/accounts/self/device-list", response_model=DeviceListPublished)
async def publish_device_list(
    body: PublishDeviceList,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
    directory: KeyDirectory = Depends(key_directory),
) -> DeviceListPublished:
    account = await lookup_account(state, device.address)
    signed = b64decode(body.device_list, "device_list", max_len=limits.MAX_DEVICE_LIST_BYTES)
    try:
        new = parse_device_list(signed, account.account_key)
    except ProtocolError as exc:
        raise Problem(400, "bad-device-list", str(exc)) from exc
    if new.address != account.address:
        raise Problem(400, "bad-device-list", "the device list names another address")
    if new.version <= account.device_list_version:
        raise Problem(
            409,
            "stale-device-list",
            f"the account's device list is at version {account.device_list_version}",
            version=account.device_list_version,
        )
    if not new.devices:
        raise Problem(400, "bad-device-list", "an account keeps at least one device")
    current = {d.device_id: d for d in account.devices}
    for entry in new.devices:
        held = current.get(entry.device_id)
        if held is not None and held.identity != entry.identity.to_bytes():
            raise Problem(
                400,
                "bad-device-list",
                f"device {entry.device_id} keeps its identity; link a new id instead",
            )
    added = [
        NewDevice(e.device_id, e.identity.to_bytes())
        for e in new.devices
        if e.device_id not in current
    ]
    removed = sorted(current.keys() - new.device_ids())
    try:
        await directory.replace_device_list(
            account.id,
            account.address,
            expected_version=account.device_list_version,
            device_list=signed,
            version=new.version,
            added=added,
            removed=removed,
            day=today(),
        )
    except StaleDeviceList as exc:
        raise Problem(409, "stale-device-list", "the device list changed meanwhile") from exc
    for pk in (d.pk for d in account.devices):
        await state.fanout.publish(pk)
    return DeviceListPublished(version=new.version, device_ids=sorted(new.device_ids()))


@router.post("/v1/provisioning", status_code=201, response_model=ChannelOpened)
async def open_channel(state: ServerState = Depends(server_state)) -> ChannelOpened:
    """Unauthenticated: the new device has no account key yet."""
    try:
        return ChannelOpened(channel=state.provisioning.open())
    except TooManyChannels as exc:
        raise Problem(503, "busy", str(exc)) from exc


class Delivered(BaseModel):
    delivered: bool


@router.put("/v1/provisioning/{channel}", response_model=Delivered)
async def deliver(
    channel: str,
    body: ProvisioningMessage,
    _: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> Delivered:
    message = b64decode(body.message, "message", max_len=limits.MAX_PROVISIONING_BYTES)
    try:
        state.provisioning.deliver(channel, message)
    except ChannelUnknown as exc:
        raise Problem(404, "unknown-channel", "no device is waiting on this code") from exc
    return Delivered(delivered=True)


@router.get("/v1/provisioning/{channel}", response_model=Collected)
async def collect(channel: str, state: ServerState = Depends(server_state)) -> Collected:
    try:
        message = await state.provisioning.collect(channel, limits.PROVISIONING_WAIT_S)
    except ChannelUnknown as exc:
        raise Problem(404, "unknown-channel", "this linking code expired or was used") from exc
    return Collected(message=None if message is None else b64encode(message))
