"""Attachments through the real server: the other side gets the file, the server only
ciphertext; damage, oversize and broken uploads are handled."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.attachments import (
    MAX_ATTACHMENT_BYTES,
    UPLOAD_SEGMENT_BYTES,
    AttachmentError,
    AttachmentPointer,
    decrypt_file,
)
from sottovoce.client.errors import ServerError
from sottovoce.crypto.password import Argon2Parameters
from sottovoce.server import limits
from tests.support.live_server import LiveServer

FAST_ARGON2 = Argon2Parameters(memory_kib=8192, iterations=1, lanes=1)


async def _pieces(data: bytes, piece: int = 65_536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def _plaintext(path: Path, client: Client, pointer: object) -> bytes:
    return b"".join([chunk async for chunk in decrypt_file(path, pointer)])  # type: ignore[arg-type]


@pytest.fixture
async def pair(
    live_server_module: LiveServer, tmp_path: Path
) -> AsyncIterator[tuple[Client, Client]]:
    """Two new people on the module's one server (each test's own blobs are told
    apart by their ids)."""
    tag, url = secrets.token_hex(3), live_server_module.url
    alice = await Client.create_account(
        tmp_path / "a", url, "chat", f"alice-{tag}", passphrase="p", argon2=FAST_ARGON2
    )
    bob = await Client.create_account(
        tmp_path / "b", url, "photos", f"bob-{tag}", passphrase="p", argon2=FAST_ARGON2
    )
    try:
        yield alice, bob
    finally:
        await alice.close()
        await bob.close()


def _server_files(server: LiveServer) -> list[Path]:
    """Everything the server keeps: its database and every blob file beside it."""
    return [p for p in server.directory.rglob("*") if p.is_file()]


def _blob_file(server: LiveServer, pointer: AttachmentPointer) -> Path:
    file = server.directory / "blobs" / pointer.blob_id
    assert file.is_file()
    return file


async def test_the_recipient_gets_the_file_and_the_server_only_ciphertext(
    pair: tuple[Client, Client], live_server_module: LiveServer
) -> None:
    alice, bob = pair
    canary = b"CANARY-" + secrets.token_hex(16).encode()
    data = canary * (3 * UPLOAD_SEGMENT_BYTES // len(canary) + 7)  # several segments
    seen: list[tuple[int, int]] = []
    pointer = await alice.upload_attachment(
        _pieces(data),
        len(data),
        "notes.txt",
        "text/plain",
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (len(data), len(data))
    await alice.send(bob.address, "the notes", attachment=pointer)
    assert len(await bob.fetch()) == 1
    (entry,) = bob.history(alice.address)
    assert entry.attachment is not None and entry.attachment.size == len(data)
    assert entry.text == "the notes"
    path = await bob.download_attachment(entry.attachment)
    assert await _plaintext(path, bob, entry.attachment) == data
    assert canary not in path.read_bytes()  # kept encrypted on the device too
    files = _server_files(live_server_module)
    assert _blob_file(live_server_module, pointer) in files  # the search covers the blob
    for file in files:
        assert canary not in file.read_bytes(), file.name
        assert canary.hex().encode() not in file.read_bytes(), file.name


async def test_the_blob_file_holds_only_ciphertext_on_every_engine(
    pair: tuple[Client, Client], live_server_module: LiveServer
) -> None:
    alice, _ = pair
    canary = b"CANARY-" + secrets.token_hex(16).encode()
    data = canary * (UPLOAD_SEGMENT_BYTES // len(canary) + 7)  # two segments
    pointer = await alice.upload_attachment(_pieces(data), len(data), "notes.txt", "text/plain")
    stored = _blob_file(live_server_module, pointer).read_bytes()
    assert len(stored) > len(data)  # all of it arrived, with the chunks' tags
    assert canary not in stored and canary.hex().encode() not in stored


async def test_oversized_uploads_are_refused_with_a_clear_message(
    pair: tuple[Client, Client],
) -> None:
    alice, _ = pair
    with pytest.raises(AttachmentError, match="at most 104857600 bytes"):
        await alice.upload_attachment(_pieces(b""), MAX_ATTACHMENT_BYTES + 1, "big", "a/b")
    with pytest.raises(ServerError) as refused:
        await alice._transport.request("POST", "/v1/blobs", {"size": limits.MAX_BLOB_BYTES + 1})
    assert refused.value.status == 413 and refused.value.problem_type == "too-large"
    assert "at most 100 MiB" in refused.value.detail


async def test_damaged_ciphertext_on_the_server_is_detected_and_not_kept(
    pair: tuple[Client, Client], live_server_module: LiveServer
) -> None:
    alice, bob = pair
    data = secrets.token_bytes(600_000)
    pointer = await alice.upload_attachment(_pieces(data), len(data), "x.bin", "a/b")
    file = _blob_file(live_server_module, pointer)
    damaged = bytearray(file.read_bytes())
    damaged[300_000] ^= 0x80
    file.write_bytes(bytes(damaged))
    with pytest.raises(AttachmentError, match="damaged"):
        await bob.download_attachment(pointer)
    assert not bob.attachment_file(pointer).exists()
    assert not list(bob.attachment_file(pointer).parent.iterdir())


async def test_truncated_ciphertext_on_the_server_is_detected(
    pair: tuple[Client, Client], live_server_module: LiveServer
) -> None:
    alice, bob = pair
    data = secrets.token_bytes(2 * 262_144)  # exactly two chunks
    pointer = await alice.upload_attachment(_pieces(data), len(data), "x.bin", "a/b")
    file = _blob_file(live_server_module, pointer)
    # A server that serves two chunks as one: data and sizes agree, so only the
    # last-chunk flag inside the ciphertext can tell.
    file.write_bytes(file.read_bytes()[: 262_144 + 16])
    with sqlite3.connect(live_server_module.db_path) as db:
        db.execute(
            "UPDATE blobs SET size = ?, received = ? WHERE blob_id = ?",
            (262_160, 262_160, pointer.blob_id),
        )
    with pytest.raises(AttachmentError):
        await bob.download_attachment(pointer)
    assert not bob.attachment_file(pointer).exists()


async def test_an_upload_resumes_at_the_servers_offset(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    transport = alice._transport
    created = await transport.request("POST", "/v1/blobs", {"size": 100})
    path = f"/v1/blobs/{created['blob_id']}"
    assert (await transport.request_bytes("PATCH", path, b"a" * 40, {"upload-offset": "0"}))[
        "offset"
    ] == 40
    with pytest.raises(ServerError) as stale:  # a retry of a segment that did arrive
        await transport.request_bytes("PATCH", path, b"a" * 40, {"upload-offset": "0"})
    assert stale.value.status == 409 and stale.value.problem["received"] == 40
    with pytest.raises(ServerError) as beyond:
        await transport.request_bytes("PATCH", path, b"b" * 61, {"upload-offset": "40"})
    assert beyond.value.status == 413
    status = await transport.request("GET", path)
    assert status == {"blob_id": created["blob_id"], "size": 100, "received": 40}
    with pytest.raises(ServerError) as incomplete:
        async for _ in transport.stream(f"{path}/content"):
            pass
    assert incomplete.value.status == 409


async def test_old_blobs_are_swept(tmp_path: Path) -> None:
    from sottovoce.storage.blobs import BlobStore
    from sottovoce.storage.repository import Repository

    repo = Repository.connect(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    await repo.migrate()
    try:
        store = BlobStore(repo.engine, tmp_path / "blobs")
        await store.create("o" * 22, 1, 20, 100)
        await store.create("n" * 22, 1, 20, 130)
        old = await store.get("o" * 22)
        assert old is not None
        await store.append(old, 0, b"x" * 20)
        assert (tmp_path / "blobs" / ("o" * 22)).read_bytes() == b"x" * 20
        assert await store.sweep(101) == 1
        assert await store.get("o" * 22) is None and await store.get("n" * 22) is not None
        assert not (tmp_path / "blobs" / ("o" * 22)).exists()
    finally:
        await repo.close()
