"""Uploads not finished yet, kept in the encrypted local store so that a new
process can finish them (docs/app.md, "Attachments").

An upload is recorded before its first byte leaves the device: the blob id the
server gave it, the file key, the file's size, name and type. The key is a store
value like any other, sealed by the store's vault, so it is never on disk in the
clear. As the server acknowledges segments, the record's *checkpoint* moves (at
most every ``attachments.CHECKPOINT_INTERVAL_S``): the acknowledged ciphertext
offset and the SHA-256 of the ciphertext up to it. A process that resumes
re-encrypts the file from the start (the digest the message carries covers the
whole ciphertext, and only the plaintext can give it again), checks that the
checkpoint digest comes out the same — so the file picked again is the file that
was being sent — and uploads from the server's offset on.
The record goes when the upload completes or is given up.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any

from sottovoce.client.errors import ProfileError
from sottovoce.client.store import Store

PENDING_UPLOAD = "pending_upload"


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """An upload a process started and did not finish."""

    blob_id: str
    key: bytes = field(repr=False)
    size: int
    name: str
    media_type: str
    # The ciphertext offset the server acknowledged last, and the digest up to it.
    checkpoint: int = 0
    checkpoint_digest: bytes | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "blob": self.blob_id,
            "key": base64.b64encode(self.key).decode(),
            "size": self.size,
            "name": self.name,
            "type": self.media_type,
            "checkpoint": self.checkpoint,
            "digest": None
            if self.checkpoint_digest is None
            else base64.b64encode(self.checkpoint_digest).decode(),
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> PendingUpload:
        try:
            digest = record["digest"]
            return cls(
                blob_id=str(record["blob"]),
                key=base64.b64decode(record["key"], validate=True),
                size=int(record["size"]),
                name=str(record["name"]),
                media_type=str(record["type"]),
                checkpoint=int(record["checkpoint"]),
                checkpoint_digest=None
                if digest is None
                else base64.b64decode(digest, validate=True),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ProfileError("a pending upload in the local store is malformed") from exc


class UploadJournal:
    """The pending uploads of one profile (each write is its own store transaction)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, upload: PendingUpload) -> None:
        with self._store.transaction():
            self._store.put_json(PENDING_UPLOAD, upload.blob_id, upload.to_json())

    def checkpoint(self, blob_id: str, offset: int, digest: bytes) -> None:
        """The server holds the ciphertext up to ``offset``, whose SHA-256 is ``digest``."""
        upload = self.get(blob_id)
        if upload is not None:
            self.record(replace(upload, checkpoint=offset, checkpoint_digest=digest))

    def finish(self, blob_id: str) -> None:
        with self._store.transaction():
            self._store.delete(PENDING_UPLOAD, blob_id)

    def get(self, blob_id: str) -> PendingUpload | None:
        record = self._store.get_json(PENDING_UPLOAD, blob_id)
        return None if record is None else PendingUpload.from_json(record)

    def all(self) -> list[PendingUpload]:
        uploads = [PendingUpload.from_json(r) for r in self._store.all_json(PENDING_UPLOAD)]
        return sorted(uploads, key=lambda u: u.name)
