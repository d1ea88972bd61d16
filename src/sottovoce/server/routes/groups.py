"""Groups: the server as the MLS Delivery Service (RFC 9420 §16, docs/groups.md).

The server orders commits per group: it holds each group's epoch and accepts
exactly one commit built on it, answering any other with 409 ``stale-epoch``
naming the current epoch, so the losing client processes the winning commit and
tries again. Proposals and application messages are accepted only in the current
epoch, so a member never receives a message of an epoch it has already left.
Every message fans out to the member devices through the one-to-one queue (one
request carries all copies; stored until each device acknowledges it).

What the server keeps is group membership as MLS exposes it: the group id and
epoch (clear in every PublicMessage and PrivateMessage header, which
``server.mls_header`` checks against the fields beside them), and the member
devices, which the committer names beside each commit (``added``, ``removed``).
It cannot check those against the encrypted or signed MLS content; a member that
lies about them can only misroute ciphertext, which the devices it reaches reject
and the devices it skips notice as a gap in the epochs.
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field, field_validator

from sottovoce.server import limits, metrics, mls_header
from sottovoce.server.auth import now_ms, split_address
from sottovoce.server.delivery_keys import DeliveryKeys, delivery_keys
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.group_franking import group_tagger
from sottovoce.server.problems import Problem
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.routes.key_packages import group_store
from sottovoce.server.sending import MESSAGE_ID
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage import groups as store
from sottovoce.storage.groups import (
    Commit,
    GroupExists,
    GroupFull,
    GroupGone,
    GroupRecord,
    MembershipConflict,
    StaleEpoch,
)
from sottovoce.storage.repository import DeviceRecord, QueueFull

router = APIRouter()

# base64url without padding of at most MAX_GROUP_ID_BYTES: how a group id sits in a path.
_PATH_GROUP_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{4 * limits.MAX_GROUP_ID_BYTES // 3 + 1}}}")
_QUEUE_TYPES = {"application": store.APPLICATION, "proposal": store.PROPOSAL}


def _message_id(value: str) -> str:
    if not MESSAGE_ID.fullmatch(value):
        raise ValueError("message_id must be 1-64 characters of [A-Za-z0-9_-]")
    return value


class MemberDevice(BaseModel):
    address: str = Field(max_length=80)
    device_id: int = Field(ge=1, le=limits.MAX_DEVICE_ID)


class CreateGroup(BaseModel):
    group_id: str = Field(max_length=4 * ((limits.MAX_GROUP_ID_BYTES + 2) // 3))


class GroupCreated(BaseModel):
    group_id: str
    epoch: int


class GroupSummaryView(BaseModel):
    group_id: str
    epoch: int
    member_devices: int


class GroupList(BaseModel):
    groups: list[GroupSummaryView]


class GroupView(BaseModel):
    group_id: str
    epoch: int
    members: list[MemberDevice]


class PostCommit(BaseModel):
    message_id: str = Field(max_length=limits.MAX_MESSAGE_ID_LEN)
    epoch: int = Field(ge=0, le=2**63 - 2)
    commit: str = Field(min_length=1)
    welcome: str | None = None
    added: list[MemberDevice] = Field(
        default_factory=list, max_length=limits.MAX_DEVICES_PER_COMMIT
    )
    removed: list[MemberDevice] = Field(default_factory=list, max_length=limits.MAX_GROUP_DEVICES)

    _check_id = field_validator("message_id")(_message_id)


class CommitAccepted(BaseModel):
    epoch: int
    stored: int
    duplicate: bool


class PostGroupMessage(BaseModel):
    message_id: str = Field(max_length=limits.MAX_MESSAGE_ID_LEN)
    epoch: int = Field(ge=0, le=2**63 - 1)
    type: str = Field(pattern="^(application|proposal)$")
    message: str = Field(min_length=1)
    leave: bool = False
    # Franking (docs/safety.md): base64 HMAC commitment to an application message's
    # content; the server tags it per member device.
    commitment: str | None = Field(default=None, max_length=64)

    _check_id = field_validator("message_id")(_message_id)


class GroupMessageAccepted(BaseModel):
    stored: int
    duplicate: bool


def _decode_path_id(value: str) -> bytes:
    if not _PATH_GROUP_ID.fullmatch(value):
        raise Problem(400, "malformed-body", "the group id in the path is not base64url")
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Problem(400, "malformed-body", "the group id in the path is not base64url") from exc
    if not 0 < len(data) <= limits.MAX_GROUP_ID_BYTES:
        raise Problem(400, "malformed-body", "the group id must be 1-64 bytes")
    return data


GroupIdPath = Path(description="the MLS group id, base64url without padding")


async def _member_group(state: ServerState, group_id: bytes, device: DeviceRecord) -> GroupRecord:
    """The group, if ``device`` is one of its members; a non-member learns nothing,
    not even whether the group exists."""
    group = await group_store(state).group(group_id)
    if group is None or not group.has(device.pk):
        raise Problem(404, "unknown-group", "this device is not a member of that group")
    return group


def _header(data: bytes, group: GroupRecord, epoch: int, content_type: int, what: str) -> None:
    """The MLS message's clear header must be the group, epoch and type it is sent as."""
    try:
        header = mls_header.message_header(data)
    except mls_header.HeaderError as exc:
        raise Problem(400, "malformed-mls", f"{what}: {exc}") from exc
    if header.group_id != group.group_id:
        raise Problem(400, "malformed-mls", f"{what} names another group")
    if header.epoch != epoch:
        raise Problem(400, "malformed-mls", f"{what} is of epoch {header.epoch}, not {epoch}")
    if header.content_type != content_type:
        raise Problem(400, "malformed-mls", f"{what} does not hold that content type")
    if content_type == mls_header.APPLICATION and header.wire_format != mls_header.PRIVATE_MESSAGE:
        # RFC 9420 §6.2: application data is only ever sent as a PrivateMessage.
        raise Problem(400, "malformed-mls", f"{what}: application data must be a PrivateMessage")


def _stale(exc: StaleEpoch) -> Problem:
    return Problem(
        409,
        "stale-epoch",
        f"the group is at epoch {exc.current}; process its messages and try again",
        epoch=exc.current,
    )


async def _publish(state: ServerState, device_pks: list[int]) -> None:
    """Wake the devices given one new queued copy each, counted as accepted
    (``/metrics``) like the copies of a one-to-one send."""
    metrics.ACCEPTED.inc(len(device_pks))
    for pk in device_pks:
        await state.fanout.publish(pk)


@router.post("/v1/groups", response_model=GroupCreated, status_code=201)
async def create_group(
    body: CreateGroup,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> GroupCreated:
    """Register a new group at epoch 0 with the creating device as its one member."""
    group_id = b64decode(body.group_id, "group_id", max_len=limits.MAX_GROUP_ID_BYTES)
    if not group_id:
        raise Problem(400, "malformed-body", "group_id is empty")
    await state.safety.admit_group_creation(device)
    try:
        await group_store(state).create_group(group_id, device.pk)
    except GroupExists as exc:
        raise Problem(409, "group-exists", "a group with this id exists") from exc
    return GroupCreated(group_id=body.group_id, epoch=0)


@router.get("/v1/groups", response_model=GroupList)
async def list_groups(
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> GroupList:
    summaries = await group_store(state).groups_of(device.pk, limits.MAX_GROUPS_LISTED)
    return GroupList(
        groups=[
            GroupSummaryView(
                group_id=b64encode(s.group_id), epoch=s.epoch, member_devices=s.member_devices
            )
            for s in summaries
        ]
    )


@router.get("/v1/groups/{group_id}", response_model=GroupView)
async def get_group(
    group_id: str = GroupIdPath,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> GroupView:
    group = await _member_group(state, _decode_path_id(group_id), device)
    return GroupView(
        group_id=b64encode(group.group_id),
        epoch=group.epoch,
        members=[MemberDevice(address=m.address, device_id=m.device_id) for m in group.members],
    )


async def _resolve_added(state: ServerState, added: list[MemberDevice]) -> list[int]:
    pks = []
    for entry in added:
        app, handle = split_address(entry.address)
        device = await state.repo.device(app, handle, entry.device_id)
        if device is None:
            raise Problem(404, "unknown-device", f"{entry.address} has no device {entry.device_id}")
        pks.append(device.pk)
    if len(set(pks)) != len(pks):
        raise Problem(400, "malformed-body", "added names a device twice")
    return pks


@router.post("/v1/groups/{group_id}/commits", response_model=CommitAccepted)
async def post_commit(
    body: PostCommit,
    group_id: str = GroupIdPath,
    sender: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> CommitAccepted:
    """Accept the one commit of ``epoch``, or 409 ``stale-epoch``."""
    group = await _member_group(state, _decode_path_id(group_id), sender)
    data = b64decode(body.commit, "commit", max_len=limits.MAX_HANDSHAKE_BYTES)
    _header(data, group, body.epoch, mls_header.COMMIT, "commit")
    welcome = None
    if body.welcome is not None:
        welcome = b64decode(body.welcome, "welcome", max_len=limits.MAX_HANDSHAKE_BYTES)
        try:
            mls_header.check_welcome(welcome)
        except mls_header.HeaderError as exc:
            raise Problem(400, "malformed-mls", f"welcome: {exc}") from exc
    if bool(body.added) != (welcome is not None):
        raise Problem(400, "malformed-body", "a commit that adds devices carries their Welcome")
    added = await _resolve_added(state, body.added)
    # Minors join only groups of people they connected with (docs/safety.md).
    await state.safety.require_addable(sender, {entry.address for entry in body.added})
    members = {(m.address, m.device_id): m.pk for m in group.members}
    # A device that already left (``leave``) is no longer in the fan-out set; its
    # removal from the MLS tree is then only the members' business.
    removed = [members[key] for r in body.removed if (key := (r.address, r.device_id)) in members]
    try:
        grown = await group_store(state).commit(
            group,
            sender,
            Commit(body.epoch, body.message_id, data, added, removed, welcome),
            server_ts=now_ms(),
            max_queue_depth=state.settings.limits.max_queue_depth,
            max_devices=limits.MAX_GROUP_DEVICES,
        )
    except StaleEpoch as exc:
        raise _stale(exc) from exc
    except GroupFull as exc:
        raise Problem(409, "group-full", str(exc)) from exc
    except MembershipConflict as exc:
        raise Problem(409, "membership-conflict", str(exc)) from exc
    except GroupGone as exc:
        raise Problem(404, "unknown-group", str(exc)) from exc
    except QueueFull as exc:
        raise Problem(
            429, "queue-full", "a member device has too many undelivered messages"
        ) from exc
    if grown is None:
        return CommitAccepted(epoch=body.epoch + 1, stored=0, duplicate=True)
    await _publish(state, grown)
    return CommitAccepted(epoch=body.epoch + 1, stored=len(grown), duplicate=False)


@router.post("/v1/groups/{group_id}/messages", response_model=GroupMessageAccepted)
async def post_group_message(
    body: PostGroupMessage,
    group_id: str = GroupIdPath,
    sender: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
    keys: DeliveryKeys = Depends(delivery_keys),
) -> GroupMessageAccepted:
    """Fan an application message or a proposal out to the other member devices.
    ``leave`` marks the sender's self-Remove proposal: the server stops delivering
    the group to that device at once, and a remaining member commits the removal."""
    group = await _member_group(state, _decode_path_id(group_id), sender)
    max_len = (
        limits.MAX_GROUP_MESSAGE_BYTES if body.type == "application" else limits.MAX_HANDSHAKE_BYTES
    )
    data = b64decode(body.message, "message", max_len=max_len)
    _header(data, group, body.epoch, mls_header.CONTENT_TYPES[body.type], "message")
    if body.leave and body.type != "proposal":
        raise Problem(400, "malformed-body", "leaving takes a proposal (a self-Remove)")
    if body.commitment is not None and body.type != "application":
        raise Problem(400, "malformed-body", "only an application message carries a commitment")
    server_ts = now_ms()
    tagger = (
        None
        if body.commitment is None
        else group_tagger(
            keys.franking_key,
            body.commitment,
            group_id=group.group_id,
            sender=sender,
            message_id=body.message_id,
            server_ts=server_ts,
        )
    )
    try:
        with metrics.SEND_SECONDS.time():  # as a one-to-one send's (server.sending)
            grown = await group_store(state).send(
                group,
                sender,
                body.message_id,
                body.epoch,
                _QUEUE_TYPES[body.type],
                data,
                leave=body.leave,
                server_ts=server_ts,
                max_queue_depth=state.settings.limits.max_queue_depth,
                tagger=tagger,
            )
    except StaleEpoch as exc:
        raise _stale(exc) from exc
    except GroupGone as exc:
        raise Problem(404, "unknown-group", str(exc)) from exc
    except QueueFull as exc:
        raise Problem(
            429, "queue-full", "a member device has too many undelivered messages"
        ) from exc
    if grown is None:
        return GroupMessageAccepted(stored=0, duplicate=True)
    await _publish(state, grown)
    return GroupMessageAccepted(stored=len(grown), duplicate=False)
