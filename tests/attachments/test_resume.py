"""Uploads that survive: a broken connection within one process, two segments in
flight arriving out of order, and a process killed mid-upload whose upload a new
process finishes — the recipient's checks pass and the server saw only ciphertext."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client.attachments import UPLOAD_SEGMENT_BYTES, AttachmentError, decrypt_file
from sottovoce.client.errors import NetworkError
from sottovoce.crypto.password import Argon2Parameters
from tests.support.live_server import LiveServer

FAST_ARGON2 = Argon2Parameters(memory_kib=8192, iterations=1, lanes=1)
MIB = 1024 * 1024
# The child uploads this file and stalls after STALL_AFTER of it; the test kills it
# once the server acknowledged at least two segments.
FILE_BYTES = 12 * MIB + 12_345
STALL_AFTER = 9 * MIB

_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from sottovoce.client import Client

    async def main(profile, file, stall_after):
        client = await Client.open(Path(profile), passphrase="p")
        data = Path(file).read_bytes()

        async def stalling():
            for i in range(0, stall_after, 65536):
                yield data[i : min(i + 65536, stall_after)]
            await asyncio.Event().wait()  # the rest never comes: the app is killed

        upload = asyncio.create_task(
            client.upload_attachment(stalling(), len(data), "film.bin", "video/mp4")
        )
        for _ in range(1200):  # a minute at most, then the test sees no line
            pending = client.pending_uploads()
            if pending and pending[0].checkpoint >= 2 * {segment}:
                print("acknowledged", pending[0].checkpoint, flush=True)
                await upload  # never returns
            await asyncio.sleep(0.05)

    asyncio.run(main(*sys.argv[1:3], int(sys.argv[3])))
    """
).replace("{segment}", str(UPLOAD_SEGMENT_BYTES))


async def _pieces(data: bytes, piece: int = 65_536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def _plaintext(path: Path, pointer: Any) -> bytes:
    return b"".join([chunk async for chunk in decrypt_file(path, pointer)])


async def _account(server: LiveServer, directory: Path, app: str, handle: str) -> Client:
    return await Client.create_account(
        directory, server.url, app, handle, passphrase="p", argon2=FAST_ARGON2
    )


def _kill_mid_upload(profile: Path, file: Path) -> None:
    """Run the child upload until the server holds part of it, then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(profile), str(file), str(STALL_AFTER)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().decode()
        assert line.startswith("acknowledged"), line or child.stderr.read().decode()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


async def test_an_upload_killed_mid_way_is_finished_by_a_new_process(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    alice = await _account(live_server_module, tmp_path / "a", "chat", f"alice-{tag}")
    bob = await _account(live_server_module, tmp_path / "b", "photos", f"bob-{tag}")
    bob_address = bob.address
    await alice.close()  # the child process has the profile now
    canary = b"CANARY-" + secrets.token_hex(16).encode()
    data = (canary * (FILE_BYTES // len(canary) + 1))[:FILE_BYTES]
    file = tmp_path / "film.bin"
    file.write_bytes(data)

    await asyncio.to_thread(_kill_mid_upload, tmp_path / "a", file)

    alice = await Client.open(tmp_path / "a", passphrase="p")
    try:
        (pending,) = alice.pending_uploads()
        assert (pending.name, pending.size, pending.media_type) == (
            "film.bin",
            FILE_BYTES,
            "video/mp4",
        )
        assert pending.checkpoint >= 2 * UPLOAD_SEGMENT_BYTES
        store = (tmp_path / "a" / "store.db").read_bytes()
        assert pending.key not in store and base64.b64encode(pending.key) not in store

        other = bytearray(data)
        other[100] ^= 1  # the same size, another file: refused, nothing sent
        with pytest.raises(AttachmentError, match="not the file"):
            await alice.resume_upload(pending.blob_id, _pieces(bytes(other)))
        assert alice.pending_uploads() == [pending]

        pointer = await alice.resume_upload(pending.blob_id, _pieces(data))
        assert alice.pending_uploads() == []
        await alice.send(bob_address, "the film", attachment=pointer)
    finally:
        await alice.close()

    try:
        assert len(await bob.fetch()) == 1
        (entry,) = bob.history(f"alice-{tag}@chat")
        assert entry.attachment is not None
        path = await bob.download_attachment(entry.attachment)  # every chunk and the digest
        assert await _plaintext(path, entry.attachment) == data
    finally:
        await bob.close()
    for server_file in (p for p in live_server_module.directory.rglob("*") if p.is_file()):
        assert canary not in server_file.read_bytes(), server_file.name


async def test_a_connection_broken_mid_upload_resumes_at_the_servers_offset(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    alice = await _account(live_server_module, tmp_path / "a", "chat", f"alice-{tag}")
    bob = await _account(live_server_module, tmp_path / "b", "photos", f"bob-{tag}")
    transport = alice._transport
    real = transport.request_bytes
    calls = 0

    async def flaky(method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # stored, but the answer is lost
            await real(method, path, body, headers)
            raise NetworkError("connection reset")
        if calls == 4:  # lost on the way
            raise NetworkError("connection reset")
        return await real(method, path, body, headers)

    transport.request_bytes = flaky  # type: ignore[method-assign]
    data = secrets.token_bytes(5 * UPLOAD_SEGMENT_BYTES + 999)
    try:
        pointer = await alice.upload_attachment(_pieces(data), len(data), "x.bin", "a/b")
        assert calls > 6  # the failures were retried
        assert alice.pending_uploads() == []
        path = await bob.download_attachment(pointer)
        assert await _plaintext(path, pointer) == data
    finally:
        await alice.close()
        await bob.close()


async def test_a_segment_arriving_before_the_one_ahead_of_it_waits_for_it(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    alice = await _account(
        live_server_module, tmp_path / "a", "chat", f"alice-{secrets.token_hex(3)}"
    )
    try:
        transport = alice._transport
        created = await transport.request("POST", "/v1/blobs", {"size": 100})
        path = f"/v1/blobs/{created['blob_id']}"
        second = asyncio.create_task(
            transport.request_bytes("PATCH", path, b"b" * 60, {"upload-offset": "40"})
        )
        await asyncio.sleep(0.3)  # the later segment is at the server first
        first = await transport.request_bytes("PATCH", path, b"a" * 40, {"upload-offset": "0"})
        assert first["offset"] == 40 and (await second)["offset"] == 100
        status = await transport.request("GET", path)
        assert status["received"] == 100
        stored = (live_server_module.directory / "blobs" / created["blob_id"]).read_bytes()
        assert stored == b"a" * 40 + b"b" * 60
    finally:
        await alice.close()


async def test_a_file_shorter_than_announced_leaves_nothing_to_resume(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    alice = await _account(
        live_server_module, tmp_path / "a", "chat", f"alice-{secrets.token_hex(3)}"
    )
    try:
        data = secrets.token_bytes(UPLOAD_SEGMENT_BYTES + 10)
        with pytest.raises(AttachmentError, match="ended after"):
            await alice.upload_attachment(_pieces(data), len(data) + 1, "x.bin", "a/b")
        assert alice.pending_uploads() == []
    finally:
        await alice.close()
