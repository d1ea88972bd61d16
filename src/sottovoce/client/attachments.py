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
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.errors import ClientError, InvalidMessage, NetworkError, ServerError
from sottovoce.client.transport import Transport
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
# One upload request: as large as the server's 4 MiB body limit allows with room
# to spare, since each request costs a signature check, a database round trip and
# an fsync (docs/performance.md); 29 requests for the largest file, far below the
# rate limit. The next segment is encrypted while this one is in flight.
UPLOAD_SEGMENT_BYTES = 3584 * 1024
# A broken connection is resumed from the server's offset this many times per file.
RESUME_ATTEMPTS = 5
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

    def update(self, data: bytes) -> bytes:
        self._pending += data
        out = bytearray()
        while len(self._pending) > CHUNK_BYTES:
            out += self._seal(bytes(self._pending[:CHUNK_BYTES]), False)
            del self._pending[:CHUNK_BYTES]
        return bytes(out)

    def finalize(self) -> bytes:
        sealed = self._seal(bytes(self._pending), True)
        self._pending.clear()
        self.digest = self._digest.finalize()
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


async def upload(
    transport: Transport,
    source: AsyncIterable[bytes],
    size: int,
    name: str,
    media_type: str,
    *,
    thumbnail: str | None = None,
    progress: Progress | None = None,
) -> AttachmentPointer:
    """Encrypt ``source`` (exactly ``size`` bytes) chunk by chunk and upload the
    ciphertext in segments; a broken connection resumes at the server's offset."""
    if size > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(
            f"the file is {size} bytes; attachments are at most {MAX_ATTACHMENT_BYTES} "
            f"bytes ({MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB)"
        )
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise AttachmentError(f"a file name has 1 to {MAX_NAME_CHARS} characters")
    if not _MEDIA_TYPE.match(media_type):
        media_type = "application/octet-stream"
    check_thumbnail(thumbnail)
    key = random_bytes(KEY_LEN)
    total = sealed_size(size)
    created = await transport.request("POST", "/v1/blobs", {"size": total})
    blob_id = sj.string(created, "blob_id", "blob")
    encryptor = ChunkEncryptor(key)
    uploader = _Uploader(transport, blob_id)
    read = 0
    segment = bytearray()
    try:
        async for data in source:
            read += len(data)
            if read > size:
                raise AttachmentError(f"the file is longer than the {size} bytes announced")
            # AES-GCM runs off the event loop, while the previous segment uploads.
            segment += await asyncio.to_thread(encryptor.update, data)
            while len(segment) >= UPLOAD_SEGMENT_BYTES:
                await uploader.queue(bytes(segment[:UPLOAD_SEGMENT_BYTES]))
                del segment[:UPLOAD_SEGMENT_BYTES]
            if progress is not None:
                progress(read, size)
        if read != size:
            raise AttachmentError(f"the file ended after {read} of the {size} bytes announced")
        segment += encryptor.finalize()
        while segment:
            await uploader.queue(bytes(segment[:UPLOAD_SEGMENT_BYTES]))
            del segment[:UPLOAD_SEGMENT_BYTES]
        await uploader.drain()
    finally:
        uploader.cancel()
    assert encryptor.digest is not None
    return AttachmentPointer(blob_id, key, encryptor.digest, size, name, media_type, thumbnail)


class _Uploader:
    """Appends segments at the server's offset (``PATCH /v1/blobs/{id}``)."""

    def __init__(self, transport: Transport, blob_id: str) -> None:
        self._transport = transport
        self._path = f"/v1/blobs/{blob_id}"
        self.offset = 0
        self._in_flight: asyncio.Task[None] | None = None

    async def queue(self, segment: bytes) -> None:
        """Send ``segment`` once the one before it is stored; returns at once, so the
        next segment is encrypted meanwhile (one segment in flight, memory stays flat)."""
        await self.drain()
        self._in_flight = asyncio.create_task(self.send(segment))

    async def drain(self) -> None:
        if self._in_flight is not None:
            task, self._in_flight = self._in_flight, None
            await task

    def cancel(self) -> None:
        if self._in_flight is not None:
            self._in_flight.cancel()

    async def send(self, segment: bytes) -> None:
        start = self.offset
        for attempt in range(RESUME_ATTEMPTS):
            skip = self.offset - start
            try:
                answer = await self._transport.request_bytes(
                    "PATCH", self._path, segment[skip:], {"upload-offset": str(self.offset)}
                )
                self.offset = sj.integer(answer, "offset", "blob")
                return
            except (NetworkError, ServerError) as exc:
                transient = isinstance(exc, NetworkError) or exc.status >= 500
                conflict = isinstance(exc, ServerError) and exc.problem_type == "offset-mismatch"
                if not (transient or conflict) or attempt == RESUME_ATTEMPTS - 1:
                    raise
                status = await self._transport.request("GET", self._path)
                offset = sj.integer(status, "received", "blob")
                if not start <= offset <= start + len(segment):
                    raise AttachmentError("the server lost part of the upload") from exc
                self.offset = offset
                if offset == start + len(segment):
                    return


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
