"""Key transparency: signed heads, consistency proofs, log entries, logged device lists.

Heads, proofs and entries are public (no signed request): an auditor needs no
account, and they name no address. Lookups of an account's keys
(``routes.accounts``) carry a :class:`TransparencyView` with the proofs.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from sottovoce.server import limits
from sottovoce.server.encoding import b64encode
from sottovoce.server.problems import Problem
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.state import ServerState, key_directory, server_state
from sottovoce.server.transparency.directory import KeyDirectory, Proven
from sottovoce.server.transparency.errors import OutOfRange
from sottovoce.storage.repository import DeviceRecord

router = APIRouter()


class ProvenEntry(BaseModel):
    entry: str
    proof: str


class TransparencyView(BaseModel):
    """An account's log entries, proven at ``head``; ``salt`` opens their commitment."""

    salt: str
    head: str
    account_key: ProvenEntry
    device_list: ProvenEntry


class HeadView(BaseModel):
    log_key: str
    head: str


class ProofView(BaseModel):
    proof: str


class EntriesView(BaseModel):
    start: int
    entries: list[str]


class LoggedDeviceList(BaseModel):
    version: int
    device_list: str


def _proven(p: Proven) -> ProvenEntry:
    return ProvenEntry(entry=b64encode(p.leaf), proof=b64encode(p.proof.to_bytes()))


async def transparency_view(directory: KeyDirectory, account_id: int) -> TransparencyView:
    proof = await directory.account_proof(account_id)
    return TransparencyView(
        salt=b64encode(proof.salt),
        head=b64encode(proof.head.to_bytes()),
        account_key=_proven(proof.account_key),
        device_list=_proven(proof.device_list),
    )


@router.get("/v1/transparency/head", response_model=HeadView)
async def latest_head(
    epoch: int | None = Query(default=None, ge=1, le=2**63 - 1),
    directory: KeyDirectory = Depends(key_directory),
) -> HeadView:
    """The newest signed head, or the head of ``epoch``."""
    head = await directory.latest_head() if epoch is None else await directory.head(epoch)
    if head is None:
        raise Problem(404, "unknown-epoch", f"the log has signed no head for epoch {epoch}")
    return HeadView(log_key=b64encode(directory.public_key), head=b64encode(head.to_bytes()))


@router.get("/v1/transparency/consistency", response_model=ProofView)
async def consistency(
    first: int = Query(ge=0, le=2**63 - 1),
    second: int = Query(ge=0, le=2**63 - 1),
    directory: KeyDirectory = Depends(key_directory),
) -> ProofView:
    """RFC 9162 §2.1.4: why the tree of ``second`` entries extends the tree of ``first``."""
    await directory.catch_up()
    if first > second or second > directory.size:
        raise Problem(400, "bad-range", f"need 0 <= first <= second <= {directory.size}")
    try:
        proof = directory.consistency_proof(first, second)
    except OutOfRange as exc:
        raise Problem(400, "bad-range", str(exc)) from exc
    return ProofView(proof=b64encode(proof.to_bytes()))


@router.get("/v1/transparency/entries", response_model=EntriesView)
async def entries(
    start: int = Query(ge=0, le=2**63 - 1),
    end: int = Query(ge=0, le=2**63 - 1),
    directory: KeyDirectory = Depends(key_directory),
) -> EntriesView:
    """Entries ``[start, end)``, for monitors and auditors that follow the whole log."""
    await directory.catch_up()
    if start > end or end > directory.size:
        raise Problem(400, "bad-range", f"need 0 <= start <= end <= {directory.size}")
    end = min(end, start + limits.MAX_LOG_ENTRIES_PER_PAGE)
    return EntriesView(start=start, entries=[b64encode(e) for e in directory.leaves(start, end)])


@router.get(
    "/v1/transparency/device-lists/{app}/{handle}/{version}", response_model=LoggedDeviceList
)
async def logged_device_list(
    app: str,
    handle: str,
    version: int,
    requester: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
    directory: KeyDirectory = Depends(key_directory),
) -> LoggedDeviceList:
    """A device list exactly as it was logged, so an owner can check every digest. Signed,
    like account look-ups: it names the address, which the public log never does."""
    account = await state.repo.account(app, handle)
    if account is not None and await state.safety.shields_minor(
        requester.account_id, account.id, app, "adults_may_find"
    ):
        account = None  # a minor is found only by those it connected with (docs/safety.md)
    signed = None if account is None else await directory.device_list_at(account.id, version)
    if account is None or signed is None:
        raise Problem(404, "unknown-device-list", f"no device list {version} of {handle}@{app}")
    return LoggedDeviceList(version=version, device_list=b64encode(signed))
