"""Attachments: a file encrypted on the device, its ciphertext in the server's blob store.

Each file gets a fresh random 256-bit key and is cut into fixed-size chunks, each
sealed with AES-256-GCM. The chunk's nonce is ``0^7 || u32 index || last-flag``,
the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015,
§7) as Tink's streaming AEAD uses it: a reordered chunk fails its tag (wrong
index), a stream cut at a chunk boundary fails too (its new last chunk was sealed
as not last). The key is used for one file only, so the fixed prefix never repeats
a nonce. The message then carries an :class:`AttachmentPointer` — blob id, key,
the SHA-256 of the whole ciphertext, size, name, type, an optional thumbnail —
inside the end-to-end encryption; the server sees only ciphertext and its length.

Everything streams: encryption, upload and download hold a few chunks at a time,
never the whole file.
"""

from __future__ import annotations

import asyncio
import base64
import re
import struct
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.errors import ClientError, InvalidMessage, NetworkError, ServerError
from sottovoce.client.transport import Transport
from sottovoce.client.upload_journal import PendingUpload, UploadJournal
from sottovoce.crypto.aead import TAG_LEN, aes_gcm
from sottovoce.crypto.errors import CryptoError
from sottovoce.crypto.hashing import Sha256Stream, constant_time_equal
from sottovoce.crypto.random import random_bytes

KEY_LEN = 32
# 256 KiB of plaintext per chunk: the per-chunk cost (a nonce, 16 tag bytes, one
# AES-GCM call) is negligible next to the data, and memory stays a few chunks.
CHUNK_BYTES = 256 * 1024
SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_LEN
# What a person may attach, as Signal and WhatsApp allow for files: 100 MiB. The
# server's bound (server.limits.MAX_BLOB_BYTES) is this size once encrypted.
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
# One upload request carries this many whole chunks (3.5 MiB of ciphertext plus
# tags), within the server's 4 MiB body limit: each request costs a signature
# check, database round trips and an fsync (docs/performance.md), so fewer, larger
# requests are faster; 29 requests for the largest file, far below the rate limit.
SEGMENT_CHUNKS = 14
UPLOAD_SEGMENT_BYTES = SEGMENT_CHUNKS * SEALED_CHUNK_BYTES
_SEGMENT_PLAINTEXT = SEGMENT_CHUNKS * CHUNK_BYTES
# Segments in flight at once, each on its own connection: while the server
# fsyncs one, the next is already arriving, and the next after it is being
# encrypted. The server holds a segment that arrives ahead of its turn until the
# one before it is stored (storage.blobs). Memory stays a few segments.
SEGMENTS_IN_FLIGHT = 2
# A broken connection is resumed from the server's offset this many times per file.
RESUME_ATTEMPTS = 5
# The journal's checkpoint (client.upload_journal) is written at most this often:
# each write is a synchronous store commit (~2 - 8 ms of fsync on the event loop),
# and a resume sends from the server's offset whatever the checkpoint says.
CHECKPOINT_INTERVAL_S = 0.5
# A thumbnail travels inside the message (it must fit one envelope with the text).
MAX_THUMBNAIL_CHARS = 16 * 1024
MAX_NAME_CHARS = 255
_THUMBNAIL = re.compile(r"^data:image/(jpeg|png|webp);base64,[A-Za-z0-9+/]+={0,2}$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
_BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_AAD = b"sottovoce attachment v1" + struct.pack(">I", CHUNK_BYTES)

Progress = Callable[[int, int], None]


class AttachmentError(ClientError):
    """An attachment is too large, or its ciphertext is damaged, cut short or reordered."""


def sealed_size(plaintext_size: int) -> int:
    """The ciphertext length of a file: every chunk adds its tag; an empty file is one
    empty last chunk."""
    chunks = max(1, -(-plaintext_size // CHUNK_BYTES))
    return plaintext_size + chunks * TAG_LEN


def _nonce(index: int, last: bool) -> bytes:
    return bytes(7) + struct.pack(">IB", index, 1 if last else 0)


class ChunkEncryptor:
    """Plaintext in, ciphertext out, in order; the last chunk is held until
    :meth:`finalize`, because only then is it known to be last."""

    def __init__(self, key: bytes) -> None:
        self._aead = aes_gcm(key)
        self._pending = bytearray()
        self._index = 0
        self._digest = Sha256Stream()
        self.digest: bytes | None = None

    def _seal(self, chunk: bytes, last: bool) -> bytes:
        if self._index >= 2**32:
            raise AttachmentError("the file has more chunks than a nonce can count")
        sealed = self._aead.seal(_nonce(self._index, last), chunk, _AAD)
        self._index += 1
        self._digest.update(sealed)
        return sealed

    def seal_block(self, block: bytes, *, last: bool) -> bytes:
        """Seal ``block`` as consecutive chunks in one call (an upload segment): whole
        chunks, unless ``last``, whose final (possibly short or empty) chunk ends the
        file. Only for a caller that cuts the plaintext itself."""
        if not last and (not block or len(block) % CHUNK_BYTES):
            raise ValueError("a block before the last is a whole number of chunks")
        count = max(1, -(-len(block) // CHUNK_BYTES)) if last else len(block) // CHUNK_BYTES
        sealed = b"".join(
            self._seal(block[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES], last and i == count - 1)
            for i in range(count)
        )
        if last:
            self.digest = self._digest.finalize()
        return sealed

    def digest_so_far(self) -> bytes:
        """SHA-256 of the ciphertext sealed until now (an upload's checkpoint)."""
        return self.digest if self.digest is not None else self._digest.digest_so_far()

    def update(self, data: bytes) -> bytes:
        self._pending += data
        whole = (len(self._pending) - 1) // CHUNK_BYTES  # chunks known not to be last
        if whole <= 0:
            return b""
        cut = whole * CHUNK_BYTES
        with memoryview(self._pending) as view:
            block = bytes(view[:cut])
        sealed = self.seal_block(block, last=False)
        del self._pending[:cut]
        return sealed

    def finalize(self) -> bytes:
        sealed = self.seal_block(bytes(self._pending), last=True)
        self._pending.clear()
        return sealed


class ChunkDecryptor:
    """Ciphertext in, authenticated plaintext out; :meth:`finalize` fails unless the
    stream ended with its real last chunk and its digest is ``digest``."""

    def __init__(self, key: bytes, digest: bytes) -> None:
        self._aead = aes_gcm(key)
        self._expected = digest
        self._pending = bytearray()
        self._index = 0
        self._digest = Sha256Stream()

    def _open(self, sealed: bytes, last: bool) -> bytes:
        try:
            return self._aead.open(_nonce(self._index, last), sealed, _AAD)
        except CryptoError as exc:
            where = "last chunk" if last else f"chunk {self._index}"
            raise AttachmentError(
                f"the attachment's {where} is damaged, reordered or cut short"
            ) from exc
        finally:
            self._index += 1

    def update(self, data: bytes) -> bytes:
        self._digest.update(data)
        self._pending += data
        out = bytearray()
        while len(self._pending) > SEALED_CHUNK_BYTES:
            out += self._open(bytes(self._pending[:SEALED_CHUNK_BYTES]), False)
            del self._pending[:SEALED_CHUNK_BYTES]
        return bytes(out)

    def finalize(self) -> bytes:
        if len(self._pending) < TAG_LEN:
            raise AttachmentError("the attachment is cut short")
        last = self._open(bytes(self._pending), True)
        self._pending.clear()
        if not constant_time_equal(self._digest.finalize(), self._expected):
            raise AttachmentError("the attachment's ciphertext digest does not match")
        return last


@dataclass(frozen=True, slots=True)
class AttachmentPointer:
    """What the message carries about its attachment (inside the encryption)."""

    blob_id: str
    key: bytes = field(repr=False)
    digest: bytes
    size: int
    name: str
    media_type: str
    thumbnail: str | None = field(default=None, repr=False)

    @property
    def is_image(self) -> bool:
        return self.media_type in PREVIEWABLE

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "blob": self.blob_id,
            "key": sj.b64(self.key),
            "digest": sj.b64(self.digest),
            "size": self.size,
            "name": self.name,
            "type": self.media_type,
        }
        if self.thumbnail is not None:
            obj["thumb"] = self.thumbnail
        return obj

    @classmethod
    def from_json(cls, obj: object) -> AttachmentPointer:
        """Parse and check a received pointer; errors name the field, never a value."""
        if not isinstance(obj, dict):
            raise InvalidMessage("the attachment is not a JSON object")
        blob, name, media_type = obj.get("blob"), obj.get("name"), obj.get("type")
        size, thumb = obj.get("size"), obj.get("thumb")
        if not isinstance(blob, str) or not _BLOB_ID.match(blob):
            raise InvalidMessage("the attachment's blob id is malformed")
        key, digest = _binary(obj, "key", KEY_LEN), _binary(obj, "digest", 32)
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or not 0 <= size <= MAX_ATTACHMENT_BYTES
        ):
            raise InvalidMessage("the attachment's size is not a valid number of bytes")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
            raise InvalidMessage("the attachment's name is missing or too long")
        if not isinstance(media_type, str) or not _MEDIA_TYPE.match(media_type):
            raise InvalidMessage("the attachment's media type is malformed")
        if thumb is not None and (
            not isinstance(thumb, str)
            or len(thumb) > MAX_THUMBNAIL_CHARS
            or not _THUMBNAIL.match(thumb)
        ):
            raise InvalidMessage("the attachment's thumbnail is not a small base64 image")
        return cls(blob, key, digest, size, name, media_type, thumb)


# Types a browser may show inline; anything else is only ever offered as a download.
PREVIEWABLE = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _binary(obj: dict[str, Any], name: str, length: int) -> bytes:
    value = obj.get(name)
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != length:
        raise InvalidMessage(f"the attachment's {name} is malformed")
    return raw


def check_thumbnail(thumbnail: str | None) -> str | None:
    if thumbnail is not None and (
        len(thumbnail) > MAX_THUMBNAIL_CHARS or not _THUMBNAIL.match(thumbnail)
    ):
        raise AttachmentError("a thumbnail must be a small base64 JPEG, PNG or WebP data URL")
    return thumbnail


def _check_upload(size: int, name: str, thumbnail: str | None) -> None:
    if size > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(
            f"the file is {size} bytes; attachments are at most {MAX_ATTACHMENT_BYTES} "
            f"bytes ({MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB)"
        )
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise AttachmentError(f"a file name has 1 to {MAX_NAME_CHARS} characters")
    check_thumbnail(thumbnail)


async def upload(
    transport: Transport,
    source: AsyncIterable[bytes],
    size: int,
    name: str,
    media_type: str,
    *,
    thumbnail: str | None = None,
    progress: Progress | None = None,
    journal: UploadJournal | None = None,
) -> AttachmentPointer:
    """Encrypt ``source`` (exactly ``size`` bytes) chunk by chunk and upload the
    ciphertext in segments; a broken connection resumes at the server's offset.
    With a ``journal`` the upload is recorded until it completes, so that another
    process can finish it (:func:`resume`)."""
    _check_upload(size, name, thumbnail)
    if not _MEDIA_TYPE.match(media_type):
        media_type = "application/octet-stream"
    key = random_bytes(KEY_LEN)
    created = await transport.request("POST", "/v1/blobs", {"size": sealed_size(size)})
    pending = PendingUpload(sj.string(created, "blob_id", "blob"), key, size, name, media_type)
    if journal is not None:
        journal.record(pending)
    try:
        digest = await _encrypt_and_send(transport, pending, source, 0, progress, journal)
    except AttachmentError:
        # Not the size announced, or the server lost data: nothing to resume.
        if journal is not None:
            journal.finish(pending.blob_id)
        raise
    if journal is not None:
        journal.finish(pending.blob_id)
    return AttachmentPointer(pending.blob_id, key, digest, size, name, media_type, thumbnail)


async def resume(
    transport: Transport,
    pending: PendingUpload,
    source: AsyncIterable[bytes],
    *,
    thumbnail: str | None = None,
    progress: Progress | None = None,
    journal: UploadJournal | None = None,
) -> AttachmentPointer:
    """Finish an upload another process started: ``source`` is the same file again.
    It is encrypted again from the start (the digest covers all of it); what the
    server holds is not sent again, and the checkpoint digest proves it is the
    same file before anything more is sent."""
    check_thumbnail(thumbnail)
    path = f"/v1/blobs/{pending.blob_id}"
    try:
        status = await transport.request("GET", path)
    except ServerError as exc:
        if exc.problem_type != "unknown-blob":
            raise
        if journal is not None:
            journal.finish(pending.blob_id)
        raise AttachmentError(
            f"the interrupted upload of {pending.name!r} expired on the server; "
            "attach the file again"
        ) from None
    received = sj.integer(status, "received", "blob")
    if sj.integer(status, "size", "blob") != sealed_size(pending.size):
        raise AttachmentError("the server's blob is not the size of this upload")
    if received < pending.checkpoint:
        raise AttachmentError("the server lost part of the upload; attach the file again")
    digest = await _encrypt_and_send(transport, pending, source, received, progress, journal)
    if journal is not None:
        journal.finish(pending.blob_id)
    return AttachmentPointer(
        pending.blob_id,
        pending.key,
        digest,
        pending.size,
        pending.name,
        pending.media_type,
        thumbnail,
    )


async def _encrypt_and_send(
    transport: Transport,
    pending: PendingUpload,
    source: AsyncIterable[bytes],
    received: int,
    progress: Progress | None,
    journal: UploadJournal | None,
) -> bytes:
    """Encrypt the whole file, upload the ciphertext from ``received`` on; its digest."""
    encryptor = ChunkEncryptor(pending.key)
    checkpoints = _Checkpoints(journal, pending.blob_id)
    uploader = _Uploader(transport, pending.blob_id, received, checkpoints.acknowledged)
    position = 0  # the ciphertext offset the next sealed segment starts at

    async def seal_and_send(block: bytes, last: bool) -> None:
        nonlocal position
        # AES-GCM runs off the event loop, while the segments before upload.
        sealed = await asyncio.to_thread(encryptor.seal_block, block, last=last)
        start, position = position, position + len(sealed)
        digest = encryptor.digest_so_far()
        if start < pending.checkpoint <= position and not (
            position == pending.checkpoint
            and pending.checkpoint_digest is not None
            and constant_time_equal(digest, pending.checkpoint_digest)
        ):
            raise AttachmentError("this is not the file whose upload was interrupted")
        if position > received:
            skip = max(0, received - start)
            await uploader.queue(start + skip, sealed[skip:], digest)

    read = 0
    plaintext = bytearray()
    try:
        async for data in source:
            read += len(data)
            if read > pending.size:
                raise AttachmentError(f"the file is longer than the {pending.size} bytes announced")
            plaintext += data
            # Strictly more than a segment: then none of these chunks is the last.
            while len(plaintext) > _SEGMENT_PLAINTEXT:
                with memoryview(plaintext) as view:  # one copy, not two
                    block = bytes(view[:_SEGMENT_PLAINTEXT])
                del plaintext[:_SEGMENT_PLAINTEXT]
                await seal_and_send(block, False)
            if progress is not None:
                progress(read, pending.size)
        if read != pending.size:
            raise AttachmentError(
                f"the file ended after {read} of the {pending.size} bytes announced"
            )
        await seal_and_send(bytes(plaintext), True)
        plaintext.clear()
        await uploader.drain()
    except BaseException:
        await uploader.cancel()
        checkpoints.flush()  # what the server holds, for the process that resumes
        raise
    checkpoints.cancel()
    assert encryptor.digest is not None
    return encryptor.digest


class _Checkpoints:
    """Writes the latest acknowledged offset to the journal, at most every
    :data:`CHECKPOINT_INTERVAL_S` and at the latest that long after it came."""

    def __init__(self, journal: UploadJournal | None, blob_id: str) -> None:
        self._journal = journal
        self._blob_id = blob_id
        self._latest: tuple[int, bytes] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._written_at = -CHECKPOINT_INTERVAL_S

    def acknowledged(self, offset: int, digest: bytes) -> None:
        self._latest = (offset, digest)
        if self._journal is not None and self._timer is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._written_at + CHECKPOINT_INTERVAL_S - loop.time())
            self._timer = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        self.cancel()
        if self._journal is not None and self._latest is not None:
            self._written_at = asyncio.get_running_loop().time()
            self._journal.checkpoint(self._blob_id, *self._latest)
            self._latest = None

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass(slots=True)
class _Segment:
    start: int
    data: bytes = field(repr=False)
    digest: bytes = field(repr=False)  # of the ciphertext up to this segment's end
    task: asyncio.Task[int] | None = None

    @property
    def end(self) -> int:
        return self.start + len(self.data)


def _resumable(exc: ClientError) -> bool:
    if isinstance(exc, NetworkError):
        return True
    return isinstance(exc, ServerError) and (
        exc.status >= 500 or exc.problem_type == "offset-mismatch"
    )


class _Uploader:
    """Appends segments at the server's offset (``PATCH /v1/blobs/{id}``), up to
    :data:`SEGMENTS_IN_FLIGHT` at once and in order. After a failure it asks the
    server where the upload stands and sends the rest one at a time from there."""

    def __init__(
        self,
        transport: Transport,
        blob_id: str,
        offset: int,
        acknowledged: Callable[[int, bytes], None],
    ) -> None:
        self._transport = transport
        self._path = f"/v1/blobs/{blob_id}"
        self.offset = offset  # what the server holds
        self._acknowledged = acknowledged
        self._window: deque[_Segment] = deque()

    async def queue(self, start: int, data: bytes, digest: bytes) -> None:
        """Send ``data`` (it begins at ``start``) once fewer than the window are in
        flight; returns at once, so the next segment is encrypted meanwhile."""
        while len(self._window) >= SEGMENTS_IN_FLIGHT:
            await self._settle_oldest()
        segment = _Segment(start, data, digest)
        segment.task = asyncio.create_task(self._send(segment))
        self._window.append(segment)

    async def drain(self) -> None:
        while self._window:
            await self._settle_oldest()

    async def cancel(self) -> None:
        tasks = [s.task for s in self._window if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for segment in self._window:
            segment.task = None

    async def _patch(self, start: int, data: bytes) -> int:
        answer = await self._transport.request_bytes(
            "PATCH", self._path, data, {"upload-offset": str(start)}
        )
        return sj.integer(answer, "offset", "blob")

    async def _send(self, segment: _Segment) -> int:
        # Acknowledged as soon as it is stored, even while the source stalls. The
        # server stores segments in order, so this is in order too.
        offset = await self._patch(segment.start, segment.data)
        self._acknowledge(segment)
        return offset

    def _acknowledge(self, segment: _Segment) -> None:
        if segment.end > self.offset:
            self.offset = segment.end
            self._acknowledged(segment.end, segment.digest)

    async def _settle_oldest(self) -> None:
        segment = self._window[0]
        assert segment.task is not None
        try:
            await segment.task
        except (NetworkError, ServerError) as exc:
            await self._recover(exc)
            return
        self._window.popleft()

    async def _recover(self, error: NetworkError | ServerError) -> None:
        await self.cancel()
        for _ in range(RESUME_ATTEMPTS):
            if not _resumable(error):
                raise error
            try:
                status = await self._transport.request("GET", self._path)
                offset = sj.integer(status, "received", "blob")
                if not self._window[0].start <= offset <= self._window[-1].end:
                    raise AttachmentError("the server lost part of the upload") from error
                while self._window:
                    segment = self._window[0]
                    if segment.end > offset:
                        skip = max(0, offset - segment.start)
                        offset = await self._patch(segment.start + skip, segment.data[skip:])
                    self._window.popleft()
                    self._acknowledge(segment)
                return
            except (NetworkError, ServerError) as exc:
                error = exc
        raise error


async def download(
    transport: Transport,
    pointer: AttachmentPointer,
    destination: Path,
    *,
    progress: Progress | None = None,
) -> None:
    """Fetch the ciphertext into ``destination`` and check every chunk and the
    digest; a damaged or cut-short file is deleted again. The file keeps the
    ciphertext: :func:`decrypt_file` opens it for display."""
    total = sealed_size(pointer.size)
    partial = destination.with_name(destination.name + ".part")
    decryptor = ChunkDecryptor(pointer.key, pointer.digest)
    received = 0
    try:
        with partial.open("wb") as out:
            for attempt in range(RESUME_ATTEMPTS):
                try:
                    path = f"/v1/blobs/{pointer.blob_id}/content?offset={received}"
                    async for data in transport.stream(path):
                        if received + len(data) > total:
                            raise AttachmentError("the server sent more than the attachment")
                        decryptor.update(data)  # authenticates each chunk as it arrives
                        out.write(data)
                        received += len(data)
                        if progress is not None:
                            progress(received, total)
                    break
                except NetworkError:
                    if attempt == RESUME_ATTEMPTS - 1:
                        raise
            decryptor.finalize()
            if received != total:
                raise AttachmentError("the attachment is cut short")
        partial.replace(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def decrypt_file(path: Path, pointer: AttachmentPointer) -> AsyncIterator[bytes]:
    """The plaintext of a downloaded ciphertext file, chunk by chunk."""

    async def chunks() -> AsyncIterator[bytes]:
        decryptor = ChunkDecryptor(pointer.key, pointer.digest)
        with path.open("rb") as source:
            while data := source.read(UPLOAD_SEGMENT_BYTES):
                plain = decryptor.update(data)
                if plain:
                    yield plain
        yield decryptor.finalize()

    return chunks()
