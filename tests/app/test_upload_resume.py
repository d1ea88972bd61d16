"""The app is killed mid-upload; started again, it lists the unfinished upload and
finishes it when the same file is attached again, and the recipient gets the file."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from sottovoce.client import Client
from sottovoce.client.attachments import UPLOAD_SEGMENT_BYTES, decrypt_file, sealed_size
from sottovoce.crypto.password import Argon2Parameters
from tests.app.app_process import AppProcess
from tests.app.test_api import _signed_up
from tests.support.live_server import LiveServer

MIB = 1024 * 1024
FILE_BYTES = 12 * MIB + 777
STALL_AFTER = 9 * MIB


def _stalling(data: bytes, release: threading.Event) -> Iterator[bytes]:
    for i in range(0, STALL_AFTER, 65_536):
        yield data[i : min(i + 65_536, STALL_AFTER)]
    release.wait(60)  # the rest never comes: the app is killed first


def _query(resume: str | None = None) -> str:
    query = f"/api/uploads?name=film.bin&size={FILE_BYTES}&type=video/mp4"
    return query + (f"&resume={resume}" if resume else "")


async def test_the_app_finishes_an_upload_after_it_was_killed(
    app_server: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    bob = await Client.create_account(
        tmp_path / "bob",
        app_server.url,
        "photos",
        f"bob-{tag}",
        passphrase="p",
        argon2=Argon2Parameters(memory_kib=8192, iterations=1, lanes=1),
    )
    data = secrets.token_bytes(FILE_BYTES)
    app = AppProcess(tmp_path / "alice", app_server.url, tmp_path / "alice.log")
    app.start()
    release = threading.Event()
    try:
        with _signed_up(app, "chat", f"alice-{tag}") as http:

            def upload() -> None:
                with contextlib.suppress(httpx.HTTPError):  # the app goes away mid-request
                    http.post(_query(), content=_stalling(data, release))

            sender = threading.Thread(target=upload)
            sender.start()
            deadline = time.monotonic() + 60
            while True:
                assert time.monotonic() < deadline, "the upload never got going"
                pending = http.get("/api/uploads/pending").json()["pending"]
                if pending and pending[0]["done"] * sealed_size(FILE_BYTES) >= (
                    2 * UPLOAD_SEGMENT_BYTES
                ):
                    break
                time.sleep(0.1)
            assert app._process is not None
            app._process.kill()  # no chance to clean up
            app._process.wait()
            app._process = None
            release.set()
            sender.join(30)
    finally:
        app.stop()

    again = AppProcess(tmp_path / "alice", app_server.url, tmp_path / "alice.log")
    again.start()
    try:
        with again.signed_in("a passphrase", timeout_s=120) as http:
            (pending,) = http.get("/api/uploads/pending").json()["pending"]
            assert pending["name"] == "film.bin" and 0 < pending["done"] < 1
            answer = http.post(_query(pending["id"]), content=data)
            assert answer.status_code == 200, answer.text
            assert http.get("/api/uploads/pending").json() == {"pending": []}
            sent = http.post(
                f"/api/conversations/bob-{tag}@photos/messages",
                json={"text": "the film", "upload": answer.json()["upload"]},
            )
            assert sent.status_code == 200, sent.text
    finally:
        again.stop()

    try:
        deadline = time.monotonic() + 30
        while not await bob.fetch():
            assert time.monotonic() < deadline, "the message never came"
            await asyncio.sleep(0.2)
        (entry,) = bob.history(f"alice-{tag}@chat")
        assert entry.attachment is not None and entry.text == "the film"
        path = await bob.download_attachment(entry.attachment)
        received = b"".join([c async for c in decrypt_file(path, entry.attachment)])
        assert received == data
    finally:
        await bob.close()
