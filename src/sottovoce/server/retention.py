"""Dropping what the server may no longer keep (DESIGN.md: retention defaults to the minimum).

Acknowledged messages are deleted at once by the ack itself; this sweep removes
the ones no device ever collected, once they are older than the configured
retention. The last-connection day needs no sweep: each device keeps only one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sottovoce.server import limits
from sottovoce.server.auth import now_ms
from sottovoce.server.settings import Retention
from sottovoce.storage import receipts
from sottovoce.storage.blobs import BlobStore, blob_directory
from sottovoce.storage.legal import LegalStore
from sottovoce.storage.repository import Repository

MS_PER_DAY = 86_400_000

log = logging.getLogger("sottovoce.server.retention")


async def sweep_once(
    repo: Repository, retention: Retention, now: int, blob_dir: Path | None = None
) -> int:
    """Delete undelivered messages older than the retention; return how many. Send
    receipts past their window (storage.receipts) go in the same sweep."""
    await receipts.expire(repo.engine, now)
    # Attachment ciphertext leaves after limits.BLOB_RETENTION_DAYS (docs/app.md).
    # Its files are in blob_dir (storage.blobs.blob_directory).
    directory = blob_directory(repo.engine.url.render_as_string(), blob_dir)
    await BlobStore(repo.engine, directory).sweep(now // MS_PER_DAY - limits.BLOB_RETENTION_DAYS)
    # A legal preservation freezes deletion of the named accounts' records (docs/legal.md);
    # one whose period ended is dropped with its snapshot.
    legal = LegalStore(repo.engine)
    await legal.expire_preservations(now // MS_PER_DAY)
    preserved = await legal.preserved_device_pks(now // MS_PER_DAY)
    return await repo.expire_undelivered(
        now - retention.undelivered_days * MS_PER_DAY, keep=preserved
    )


async def sweep_forever(
    repo: Repository, retention: Retention, blob_dir: Path | None = None
) -> None:
    """Run :func:`sweep_once` at start and then every ``retention.sweep_interval_s``."""
    while True:
        try:
            dropped = await sweep_once(repo, retention, now_ms(), blob_dir)
        except Exception as exc:  # a failed sweep is retried at the next interval
            log.warning("retention sweep failed: %s", type(exc).__name__)
        else:
            if dropped:
                log.info(
                    "dropped %d undelivered messages older than %d days",
                    dropped,
                    retention.undelivered_days,
                )
        await asyncio.sleep(retention.sweep_interval_s)
