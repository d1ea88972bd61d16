"""The device's encrypted local store, and receiving atomically across a crash."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import IdentityChanged, ProfileError
from sottovoce.client.store import DB_FILE, KEY_FILE, Store
from sottovoce.client.transport import Transport, b64
from sottovoce.crypto.password import Argon2Parameters
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from tests.support.live_server import LiveServer

FAST = Argon2Parameters(memory_kib=8192, iterations=1, lanes=1)
SECRET_TEXT = "the vault combination is 31-7-42"


async def test_nothing_readable_at_rest(live_server: LiveServer, tmp_path: Path) -> None:
    a = await Client.create_account(tmp_path / "a", live_server.url, "chat", "alice")
    b = await Client.create_account(
        tmp_path / "b", live_server.url, "photos", "bob", passphrase="pw", argon2=FAST
    )
    await a.send("bob@photos", SECRET_TEXT)
    assert [m.text for m in await b.fetch()] == [SECRET_TEXT]
    identity_secret = b._identity.signing_key.private_bytes()
    await a.close()
    await b.close()
    for profile in (tmp_path / "a", tmp_path / "b"):
        raw = b"".join(p.read_bytes() for p in profile.iterdir() if p.name.startswith(DB_FILE))
        for needle in (SECRET_TEXT.encode(), b"bob@photos", b"alice@chat", identity_secret):
            assert needle not in raw
    assert stat.S_IMODE((tmp_path / "a" / KEY_FILE).stat().st_mode) == 0o600
    assert not (tmp_path / "b" / KEY_FILE).exists()


async def test_wrong_passphrase_and_tampering_are_errors(
    live_server: LiveServer, tmp_path: Path
) -> None:
    b = await Client.create_account(
        tmp_path / "b", live_server.url, "photos", "bob", passphrase="right", argon2=FAST
    )
    await b.close()
    with pytest.raises(ProfileError, match="wrong passphrase"):
        await Client.open(tmp_path / "b", passphrase="wrong")
    with pytest.raises(ProfileError, match="locked with a passphrase"):
        await Client.open(tmp_path / "b")
    with sqlite3.connect(tmp_path / "b" / DB_FILE) as conn:
        (value,) = conn.execute("SELECT value FROM records WHERE kind = 'identity'").fetchone()
        flipped = value[:20] + bytes([value[20] ^ 1]) + value[21:]
        conn.execute("UPDATE records SET value = ? WHERE kind = 'identity'", (flipped,))
    with pytest.raises(ProfileError, match="failed authentication"):
        await Client.open(tmp_path / "b", passphrase="right")


async def test_crash_between_commit_and_ack_loses_nothing_and_duplicates_nothing(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await Client.create_account(tmp_path / "a", live_server.url, "chat", "alice")
    b = await Client.create_account(tmp_path / "b", live_server.url, "photos", "bob")
    await a.send("bob@photos", "exactly once")
    original = Transport.request

    async def crash_on_ack(
        self: Transport, method: str, path: str, payload: object = None
    ) -> object:
        if path == "/v1/messages/ack":
            raise RuntimeError("power cut")
        return await original(self, method, path, payload)

    monkeypatch.setattr(Transport, "request", crash_on_ack)
    with pytest.raises(RuntimeError, match="power cut"):
        await b.fetch()
    monkeypatch.undo()
    b._store.close()
    reopened = await Client.open(tmp_path / "b")
    assert await reopened.fetch() == []  # redelivered, recognised, acknowledged
    assert [e.text for e in reopened.history("alice@chat")] == ["exactly once"]
    assert await reopened.fetch() == []
    await a.send("bob@photos", "and the session still works")
    assert [m.text for m in await reopened.fetch()] == ["and the session still works"]
    await a.close()
    await reopened.close()


async def test_changed_identity_is_never_silently_accepted(
    live_server: LiveServer, tmp_path: Path
) -> None:
    a = await Client.create_account(tmp_path / "a", live_server.url, "chat", "alice")
    b = await Client.create_account(tmp_path / "b", live_server.url, "photos", "bob")
    await a.send("bob@photos", "hello")
    await b.fetch()
    # Pretend alice had pinned another account key for bob (as before bob
    # reinstalled, or as a server swapping keys would cause): when the served key
    # no longer matches the pin, nothing is sent until alice accepts it.
    pinned = a._store.get_json("contact", "bob@photos")
    assert pinned is not None
    real_key = pinned["key"]
    other_key = SigningKey.generate()
    other_list = DeviceList("bob@photos", 1, (DeviceEntry(1, b._identity.public, 0),))
    with a._store.transaction():
        a._store.put_json(
            "contact",
            "bob@photos",
            {
                "key": b64(other_key.public),
                "device_list": b64(other_list.sign(other_key)),
                "version": 1,
            },
        )
    with pytest.raises(IdentityChanged):
        await a._contact("bob@photos", refresh=True)  # as on any device-list refresh
    with pytest.raises(IdentityChanged):
        await a.send("bob@photos", "must not be sent")
    # Messages from bob are held on the server (not acknowledged) meanwhile.
    await b.send("alice@chat", "held until trusted")
    assert await a.fetch() == []
    a.trust_identity("bob@photos")
    assert a._store.get_json("contact", "bob@photos")["key"] == real_key  # type: ignore[index]
    assert [m.text for m in await a.fetch()] == ["held until trusted"]
    await a.send("bob@photos", "after checking the safety number")
    assert [m.text for m in await b.fetch()] == ["after checking the safety number"]
    await a.close()
    await b.close()


def test_store_refuses_to_overwrite_a_profile(tmp_path: Path) -> None:
    Store.create(tmp_path / "p").close()
    with pytest.raises(ProfileError, match="already exists"):
        Store.create(tmp_path / "p")
