"""Attachment ciphertext: blobs appended segment by segment, read back in order.

The server cannot read a blob (client.attachments encrypts it on the device);
this module only keeps the bytes, their order and the offset an upload resumes at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from sottovoce.storage.schema import blob_segments, blobs


@dataclass(frozen=True, slots=True)
class BlobRecord:
    pk: int
    blob_id: str
    uploader_device_pk: int
    size: int
    received: int

    @property
    def complete(self) -> bool:
        return self.received == self.size


class OffsetMismatch(Exception):
    def __init__(self, received: int) -> None:
        super().__init__(f"the upload is at offset {received}")
        self.received = received


class TooLong(Exception):
    pass


class BlobStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, blob_id: str, device_pk: int, size: int, day: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                blobs.insert().values(
                    blob_id=blob_id,
                    uploader_device_pk=device_pk,
                    size=size,
                    received=0,
                    created_day=day,
                )
            )

    async def get(self, blob_id: str) -> BlobRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        blobs.c.id,
                        blobs.c.blob_id,
                        blobs.c.uploader_device_pk,
                        blobs.c.size,
                        blobs.c.received,
                    ).where(blobs.c.blob_id == blob_id)
                )
            ).first()
        return None if row is None else BlobRecord(*row)

    async def append(self, record: BlobRecord, offset: int, data: bytes) -> int:
        """Append ``data`` at ``offset``, which must be where the upload stands; the
        new offset. The offset moves only with its segment, in one transaction,
        and only from the value read (two racing appends: one wins)."""
        async with self._engine.begin() as conn:
            if offset + len(data) > record.size:
                raise TooLong()
            moved = await conn.execute(
                update(blobs)
                .where(blobs.c.id == record.pk, blobs.c.received == offset)
                .values(received=offset + len(data))
            )
            if moved.rowcount != 1:
                current = (
                    await conn.execute(select(blobs.c.received).where(blobs.c.id == record.pk))
                ).scalar_one()
                raise OffsetMismatch(int(current))
            await conn.execute(
                blob_segments.insert().values(blob_pk=record.pk, start=offset, data=data)
            )
        return offset + len(data)

    async def read(self, record: BlobRecord, offset: int) -> AsyncIterator[bytes]:
        """The bytes from ``offset`` on, one segment per query (memory stays one segment)."""
        start = (
            await self._scalar(
                select(func.max(blob_segments.c.start)).where(
                    blob_segments.c.blob_pk == record.pk, blob_segments.c.start <= offset
                )
            )
            or 0
        )
        while start < record.received:
            async with self._engine.connect() as conn:
                data = (
                    await conn.execute(
                        select(blob_segments.c.data).where(
                            blob_segments.c.blob_pk == record.pk, blob_segments.c.start == start
                        )
                    )
                ).scalar_one()
            yield data[max(0, offset - start) :]
            start += len(data)

    async def _scalar(self, query: object) -> int | None:
        async with self._engine.connect() as conn:
            value = (await conn.execute(query)).scalar()  # type: ignore[call-overload]
        return None if value is None else int(value)

    async def sweep(self, before_day: int) -> int:
        """Delete blobs created before ``before_day``; how many."""
        async with self._engine.begin() as conn:
            old = select(blobs.c.id).where(blobs.c.created_day < before_day)
            await conn.execute(delete(blob_segments).where(blob_segments.c.blob_pk.in_(old)))
            result = await conn.execute(delete(blobs).where(blobs.c.created_day < before_day))
        return int(result.rowcount)
