"""``/v1/blobs``: the attachment store. It keeps ciphertext it cannot read.

A device declares the ciphertext's size (``POST``; 413 above
``limits.MAX_BLOB_BYTES``), appends segments at the current offset (``PATCH``
with ``Upload-Offset``; a broken upload asks ``GET /v1/blobs/{id}`` where it
stands and resumes there, as the tus protocol does), and any device holding the
blob id from a message downloads it (``GET …/content?offset=``). Blobs leave
after ``limits.BLOB_RETENTION_DAYS`` (docs/app.md).
"""

from __future__ import annotations

import base64
import secrets

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from sottovoce.server import limits
from sottovoce.server.auth import today
from sottovoce.server.problems import Problem
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage.blobs import (
    BlobRecord,
    BlobStore,
    OffsetMismatch,
    TooLong,
    blob_directory,
)
from sottovoce.storage.repository import DeviceRecord

router = APIRouter()

BLOB_ID = r"^[A-Za-z0-9_-]{22}$"
# 128 random bits: a blob id is unguessable, so only those it was sent to fetch it.
BLOB_ID_BYTES = 16
# The smallest ciphertext: one empty chunk's 16-byte tag (client.attachments).
MIN_BLOB_BYTES = 16


class BlobIn(BaseModel):
    size: int = Field(ge=0)


class BlobStatus(BaseModel):
    blob_id: str
    size: int
    received: int


class Offset(BaseModel):
    offset: int


def _store(state: ServerState) -> BlobStore:
    settings = state.settings
    return BlobStore(state.repo.engine, blob_directory(settings.db_url, settings.blob_dir))


async def _blob(state: ServerState, blob_id: str) -> BlobRecord:
    record = await _store(state).get(blob_id)
    if record is None:
        raise Problem(404, "unknown-blob", "no such attachment (it may have expired)")
    return record


def _status(record: BlobRecord) -> BlobStatus:
    return BlobStatus(blob_id=record.blob_id, size=record.size, received=record.received)


@router.post("/v1/blobs", response_model=BlobStatus, status_code=201)
async def create_blob(
    body: BlobIn,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> BlobStatus:
    if body.size > limits.MAX_BLOB_BYTES:
        mib = limits.MAX_BLOB_BYTES // (1024 * 1024)
        raise Problem(
            413,
            "too-large",
            f"an attachment is at most {mib} MiB; this one would be {body.size} bytes",
            limit=limits.MAX_BLOB_BYTES,
        )
    if body.size < MIN_BLOB_BYTES:
        raise Problem(400, "malformed-request", f"a blob has at least {MIN_BLOB_BYTES} bytes")
    blob_id = base64.urlsafe_b64encode(secrets.token_bytes(BLOB_ID_BYTES)).decode().rstrip("=")
    await _store(state).create(blob_id, device.pk, body.size, today())
    return BlobStatus(blob_id=blob_id, size=body.size, received=0)


@router.get("/v1/blobs/{blob_id}", response_model=BlobStatus)
async def blob_status(
    blob_id: str = Path(pattern=BLOB_ID),
    _: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> BlobStatus:
    return _status(await _blob(state, blob_id))


@router.patch("/v1/blobs/{blob_id}", response_model=Offset)
async def append_blob(
    request: Request,
    blob_id: str = Path(pattern=BLOB_ID),
    upload_offset: int = Header(ge=0),
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> Offset:
    record = await _blob(state, blob_id)
    if record.uploader_device_pk != device.pk:
        raise Problem(403, "not-uploader", "only the device that created a blob appends to it")
    data = await request.body()
    if not data:
        raise Problem(400, "malformed-request", "an upload segment is empty")
    try:
        offset = await _store(state).append(
            record, upload_offset, data, wait_s=limits.BLOB_AHEAD_WAIT_S
        )
    except OffsetMismatch as exc:
        raise Problem(
            409,
            "offset-mismatch",
            f"the upload stands at offset {exc.received}; resume there",
            received=exc.received,
        ) from None
    except TooLong:
        raise Problem(
            413, "too-large", f"the blob was declared as {record.size} bytes; this goes beyond"
        ) from None
    return Offset(offset=offset)


@router.get("/v1/blobs/{blob_id}/content")
async def download_blob(
    blob_id: str = Path(pattern=BLOB_ID),
    offset: int = Query(default=0, ge=0),
    _: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> StreamingResponse:
    record = await _blob(state, blob_id)
    if not record.complete:
        raise Problem(409, "incomplete-blob", "this attachment is still being uploaded")
    if offset > record.size:
        raise Problem(416, "bad-offset", f"the blob has {record.size} bytes")
    return StreamingResponse(
        _store(state).read(record, offset),
        media_type="application/octet-stream",
        headers={"content-length": str(record.size - offset)},
    )
