"""After a scripted conversation, nothing the clients said or hold secret is on the server.

Searches the server's database files and its log output for canary texts (as
UTF-8, UTF-16 and base64) and for every private key and session secret the
clients hold. A positive control proves the search itself finds what it looks for.
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

from sottovoce.client import Client
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import KemPreKey, OneTimePreKey, SignedPreKey
from sottovoce.protocol.session import Session
from tests.support.live_server import LiveServer

CANARIES = [
    "canary-7f3a9c alpha: the eagle lands at noon",
    "canary-b41e02 beta: meet under the bridge",
    "canary-0d9e77 gamma: ünïcödé & emoji 🦜 too",
    "canary-51c2aa delta: offline delivery works",
]


def forms(secret: bytes) -> list[bytes]:
    text_forms = [secret, base64.b64encode(secret), secret.hex().encode()]
    with contextlib.suppress(UnicodeDecodeError):
        text_forms.append(secret.decode().encode("utf-16-le"))
    return text_forms


def server_bytes(server: LiveServer) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in server.directory.iterdir()
        if path.name.startswith(server.db_path.name) or path == server.log_path
    }


def find(haystacks: dict[str, bytes], needles: list[bytes]) -> list[str]:
    return [
        f"{needle[:16]!r}… in {name}"
        for needle in needles
        for name, data in haystacks.items()
        for form in forms(needle)
        if form in data
    ]


def client_secrets(client: Client) -> list[bytes]:
    """Every private key, ratchet root/chain key and skipped message key the client
    holds, read out of its (decrypted) store."""
    store = client._store
    identity = IdentityKeyPair.from_bytes(store.get("identity", "self") or b"")
    secrets = [
        identity.signing_key.private_bytes(),
        identity.dh_key.private_bytes(),
        store.get("account_key", "self") or b"",
    ]
    secrets += [
        SignedPreKey.from_bytes(b).key_pair.private_bytes() for b in store.all("signed_prekey")
    ]
    secrets += [
        OneTimePreKey.from_bytes(b).key_pair.private_bytes() for b in store.all("one_time_prekey")
    ]
    secrets += [KemPreKey.from_bytes(b).key_pair.private_bytes() for b in store.all("kem_prekey")]
    for blob in store.all("session"):
        session = Session.from_bytes(blob)
        secrets += [session._root_key, session._sending_key.private_bytes()]
        secrets += [k for k in (session._sending_chain, session._receiving_chain) if k]
        secrets += list(session._skipped.values())
    return secrets


async def test_no_plaintext_or_key_material_reaches_the_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    a = await Client.create_account(tmp_path / "a", live_server.url, "chat", "alice")
    b = await Client.create_account(tmp_path / "b", live_server.url, "photos", "bob")
    c = await Client.create_account(tmp_path / "c", live_server.url, "chat", "carol")
    await a.send("bob@photos", CANARIES[0])
    await c.send("bob@photos", CANARIES[1])
    assert {m.text for m in await b.fetch()} == {CANARIES[0], CANARIES[1]}
    await b.send("alice@chat", CANARIES[2])
    await b.send("carol@chat", CANARIES[3])  # carol is offline: it waits on the server
    assert [m.text for m in await a.fetch()] == [CANARIES[2]]

    queued = server_bytes(live_server)  # carol's message is still queued here
    live_server.stop()
    live_server.start()
    assert [m.text for m in await c.fetch()] == [CANARIES[3]]
    live_server.stop()  # flushes the log and checkpoints the WAL

    haystacks = {**queued, **{f"final-{k}": v for k, v in server_bytes(live_server).items()}}
    assert find(haystacks, [text.encode() for text in CANARIES]) == []
    secrets = [s for client in (a, b, c) for s in client_secrets(client)]
    assert len(secrets) > 100
    assert find(haystacks, secrets) == []
    for client in (a, b, c):
        await client.close()


def test_the_search_finds_a_planted_canary(tmp_path: Path) -> None:
    """Positive control: the same search reports plaintext and keys when present."""
    planted = {
        "db": b"junk" + CANARIES[0].encode("utf-16-le") + b"junk",
        "log": b"INFO " + base64.b64encode(b"\x01" * 32),
    }
    assert find(planted, [CANARIES[0].encode()]) != []
    assert find(planted, [b"\x01" * 32]) != []
    assert find(planted, [CANARIES[1].encode()]) == []
