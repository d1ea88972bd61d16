"""The KeyPackage directory: devices upload MLS KeyPackages, others claim them to add
the device to a group (RFC 9420 §10, §16.8).

Like one-time prekeys, each KeyPackage is handed out at most once; when a device
has none left in the asked cipher suite, its last-resort KeyPackage is handed out
instead and kept. The server reads only the cipher suite from the bytes
(``server.mls_header``); the claimer verifies each KeyPackage's signature and that
its credential and signature key are those of the device list it got beside it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from sottovoce.server import limits
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.mls_header import HeaderError, key_package_suite
from sottovoce.server.problems import Problem
from sottovoce.server.routes.accounts import lookup_account
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage.groups import GroupStore, KeyPackageCounts, TooManyKeyPackages
from sottovoce.storage.repository import DeviceRecord

router = APIRouter()

# base64 of MAX_KEY_PACKAGE_BYTES, so pydantic refuses a huge field before decoding.
_B64_KEY_PACKAGE = 4 * ((limits.MAX_KEY_PACKAGE_BYTES + 2) // 3)


class UploadKeyPackages(BaseModel):
    key_packages: list[str] = Field(
        default_factory=list, max_length=limits.MAX_KEY_PACKAGES_PER_UPLOAD
    )
    last_resort: str | None = None


class KeyPackageStatus(BaseModel):
    key_packages: int
    last_resort: bool
    low: bool


class ClaimKeyPackages(BaseModel):
    address: str = Field(max_length=80)
    cipher_suite: int = Field(ge=1, le=0xFFFF)
    device_ids: list[int] | None = Field(default=None, max_length=limits.MAX_CLAIM_DEVICES)


class ClaimedKeyPackageView(BaseModel):
    device_id: int
    key_package: str
    last_resort: bool


class KeyPackageClaim(BaseModel):
    address: str
    account_key: str
    device_list: str
    key_packages: list[ClaimedKeyPackageView]


def group_store(state: ServerState) -> GroupStore:
    return GroupStore(state.repo.engine)


def _status(counts: KeyPackageCounts) -> KeyPackageStatus:
    return KeyPackageStatus(
        key_packages=counts.key_packages,
        last_resort=counts.last_resort,
        low=counts.key_packages < limits.KEY_PACKAGE_LOW_WATERMARK,
    )


async def key_packages_low(state: ServerState, device_pk: int, *, in_use: bool = False) -> bool:
    """The device should upload more KeyPackages (it holds fewer than the watermark).
    With ``in_use``, only a device that takes part in groups (it has uploaded its
    last-resort KeyPackage) is low: the WebSocket does not nag devices that never
    asked for groups, while a fetch tells every device, so that older profiles
    start taking part."""
    counts = await group_store(state).key_package_counts(device_pk)
    if in_use and not counts.last_resort:
        return False
    return counts.key_packages < limits.KEY_PACKAGE_LOW_WATERMARK


def _key_package(value: str, field: str) -> tuple[int, bytes]:
    data = b64decode(value, field, max_len=limits.MAX_KEY_PACKAGE_BYTES)
    try:
        return key_package_suite(data), data
    except HeaderError as exc:
        raise Problem(400, "malformed-mls", f"{field}: {exc}") from exc


@router.put("/v1/devices/self/key-packages", response_model=KeyPackageStatus)
async def upload_key_packages(
    body: UploadKeyPackages,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> KeyPackageStatus:
    packages = [_key_package(v, f"key_packages[{i}]") for i, v in enumerate(body.key_packages)]
    last_resort = (
        None if body.last_resort is None else _key_package(body.last_resort, "last_resort")
    )
    try:
        counts = await group_store(state).store_key_packages(
            device.pk, packages, last_resort, limits.MAX_KEY_PACKAGES_HELD
        )
    except TooManyKeyPackages as exc:
        raise Problem(
            400,
            "too-many-key-packages",
            f"a device holds at most {limits.MAX_KEY_PACKAGES_HELD} KeyPackages",
        ) from exc
    return _status(counts)


@router.get("/v1/devices/self/key-packages", response_model=KeyPackageStatus)
async def key_package_status(
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> KeyPackageStatus:
    return _status(await group_store(state).key_package_counts(device.pk))


@router.post("/v1/key-packages/claim", response_model=KeyPackageClaim)
async def claim_key_packages(
    body: ClaimKeyPackages,
    claimer: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> KeyPackageClaim:
    """One KeyPackage for each asked device of ``address`` (every device by default;
    the claimer's own device is never one), in one transaction."""
    account = await lookup_account(state, body.address)
    # Adding a minor to a group needs the minor's connection (docs/safety.md).
    await state.safety.require_reachable(claimer, account, "adults_may_add_to_groups")
    targets = [d for d in account.devices if d.pk != claimer.pk]
    if body.device_ids is not None:
        asked = set(body.device_ids)
        unknown = sorted(asked - {d.device_id for d in targets})
        if unknown:
            raise Problem(404, "unknown-device", f"{account.address} has no devices {unknown}")
        targets = [d for d in targets if d.device_id in asked]
    claimed = await group_store(state).claim_key_packages(targets, body.cipher_suite)
    for device in targets:
        if await key_packages_low(state, device.pk, in_use=True):
            await state.fanout.publish(device.pk)
    return KeyPackageClaim(
        address=account.address,
        account_key=b64encode(account.account_key),
        device_list=b64encode(account.device_list),
        key_packages=[
            ClaimedKeyPackageView(
                device_id=c.device_id,
                key_package=b64encode(c.key_package),
                last_resort=c.last_resort,
            )
            for c in claimed
        ],
    )
