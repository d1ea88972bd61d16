"""Key transparency: signed heads, consistency proofs, log entries, logged device lists.

Heads, proofs and entries are public (no signed request): an auditor needs no
account, and they name no address. Lookups of an account's keys
(``routes.accounts``) carry a :class:`TransparencyView` with the proofs.
"""

from __future__ import annotations

from typing import Annotated

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

# A count of log entries, or a position in the log: within SQL's BIGINT, so a huge
# number is refused as invalid input instead of overflowing a query.
LogSize = Annotated[int, Query(ge=0, le=2**63 - 1)]


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


def _check_range(low: int, high: int, size: int, names: str) -> None:
    """Refuse a range of the log that is reversed or reaches past its end; ``names``
    says how the request names it (``first <= second``)."""
    if low > high or high > size:
        raise Problem(400, "bad-range", f"need 0 <= {names} <= {size}")


@router.get("/v1/transparency/consistency", response_model=ProofView)
async def consistency(
    first: LogSize,
    second: LogSize,
    directory: KeyDirectory = Depends(key_directory),
) -> ProofView:
    """RFC 9162 §2.1.4: why the tree of ``second`` entries extends the tree of ``first``."""
    await directory.catch_up()
    _check_range(first, second, directory.size, "first <= second")
    try:
        proof = directory.consistency_proof(first, second)
    except OutOfRange as exc:
        raise Problem(400, "bad-range", str(exc)) from exc
    return ProofView(proof=b64encode(proof.to_bytes()))


@router.get("/v1/transparency/entries", response_model=EntriesView)
async def entries(
    start: LogSize,
    end: LogSize,
    directory: KeyDirectory = Depends(key_directory),
) -> EntriesView:
    """Entries ``[start, end)``, for monitors and auditors that follow the whole log."""
    await directory.catch_up()
    _check_range(start, end, directory.size, "start <= end")
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
