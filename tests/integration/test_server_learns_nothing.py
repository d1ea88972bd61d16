"""After a scripted conversation, nothing the clients said or hold secret is on the server.

Several clients talk both ways, with offline delivery across a server restart
and live delivery over the WebSocket. Then every file the server wrote (its
SQLite database with ``-wal``/``-shm``, and its captured log) is searched for
the canary texts and for every private key and session secret the clients held
at any point, in every encoding (``sottovoce.demo.leaks.encoded_forms``: raw, hex,
base64 at any alignment, UTF-16). Positive controls show the same search finds
what is there: public keys the server does hold, and canaries planted in a
scratch copy of its database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import shutil
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.client import Client, ReceivedMessage
from sottovoce.client.prekey_store import KEM, ONE_TIME, SIGNED
from sottovoce.client.session_record import SessionRecord
from sottovoce.client.store import Store
from sottovoce.crypto.signing import SigningKey
from sottovoce.demo.leaks import MIN_NEEDLE_BYTES, encoded_forms, find_leaks, server_files
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import KemPreKey, OneTimePreKey, SignedPreKey
from sottovoce.protocol.session import Session
from tests.support.live_server import LiveServer

CANARIES = {
    "alpha": "canary-7f3a9c alpha: the eagle lands at noon",
    "beta": "canary-b41e02 beta: meet under the bridge",
    "gamma": "canary-0d9e77 gamma: ünïcödé & emoji 🦜 too",
    "delta": "canary-51c2aa delta: waited offline across a restart",
    "epsilon": "canary-e3f610 epsilon: delivered live over the socket",
}
ADDRESSES = ("alice@chat", "bob@photos", "carol@chat")
LIVE_TIMEOUT_S = 20.0


def session_secrets(label: str, session: Session) -> dict[str, bytes]:
    """The Double Ratchet state of one session (Double Ratchet §3.2): root key, sending
    ratchet private key, chain keys and skipped message keys. Read from private
    fields on purpose: the protocol never hands these out."""
    secrets = {
        f"{label} root key": session._root_key,
        f"{label} ratchet private key": session._sending_key.private_bytes(),
    }
    for name, chain in (
        ("sending", session._sending_chain),
        ("receiving", session._receiving_chain),
    ):
        if chain is not None:
            secrets[f"{label} {name} chain key"] = chain
    for (_, position), key in session._skipped.items():
        secrets[f"{label} skipped message key {position}"] = key
    return secrets


def client_secrets(profile: Path) -> dict[str, bytes]:
    """Every secret in a client's profile, read through the SDK's own store: the store
    key, identity and account private keys, private prekeys, and all sessions."""
    name = profile.name
    store = Store.open(profile)
    try:
        identity = IdentityKeyPair.from_bytes(store.get("identity", "self") or b"")
        secrets = {
            f"{name} store key": (profile / "store.key").read_bytes(),
            f"{name} identity signing key": identity.signing_key.private_bytes(),
            f"{name} identity DH key": identity.dh_key.private_bytes(),
            f"{name} account key": store.get("account_key", "self") or b"",
        }
        for raw in store.all(SIGNED):
            key = SignedPreKey.from_bytes(raw)
            secrets[f"{name} signed prekey {key.key_id}"] = key.key_pair.private_bytes()
        for raw in store.all(ONE_TIME):
            one_time = OneTimePreKey.from_bytes(raw)
            secrets[f"{name} one-time prekey {one_time.key_id}"] = one_time.key_pair.private_bytes()
        for raw in store.all(KEM):
            kem = KemPreKey.from_bytes(raw)
            secrets[f"{name} KEM prekey {kem.key_id}"] = kem.key_pair.private_bytes()
        for peer in ADDRESSES:
            for index, session in enumerate(SessionRecord.load(store, peer, 1).sessions()):
                secrets.update(session_secrets(f"{name}'s session {index} with {peer}", session))
    finally:
        store.close()
    return secrets


def account_public_key(profile: Path) -> bytes:
    store = Store.open(profile)
    try:
        return SigningKey.from_bytes(store.get("account_key", "self") or b"").public
    finally:
        store.close()


async def test_no_plaintext_or_key_material_reaches_the_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    profiles = {address: tmp_path / address.split("@")[0] for address in ADDRESSES}
    clients = {}
    for address, profile in profiles.items():
        handle, app = address.split("@")
        clients[address] = await Client.create_account(profile, live_server.url, app, handle)
    alice, bob, carol = (clients[address] for address in ADDRESSES)
    # Prekeys are consumed and chains ratchet forward, so secrets are read at every step.
    secrets: dict[str, bytes] = {}

    def remember_secrets() -> None:
        for profile in profiles.values():
            secrets.update(client_secrets(profile))

    remember_secrets()
    await alice.send("bob@photos", CANARIES["alpha"])
    await carol.send("bob@photos", CANARIES["beta"])
    snapshots = {f"queued {k}": v for k, v in server_files(live_server.directory).items()}
    assert {m.text for m in await bob.fetch()} == {CANARIES["alpha"], CANARIES["beta"]}
    remember_secrets()

    await bob.send("alice@chat", CANARIES["gamma"])
    await bob.send("carol@chat", CANARIES["delta"])  # carol is offline: it waits
    assert [m.text for m in await alice.fetch()] == [CANARIES["gamma"]]
    remember_secrets()
    live_server.stop()
    live_server.start()
    assert [m.text for m in await carol.fetch()] == [CANARIES["delta"]]
    remember_secrets()

    arrived: asyncio.Queue[ReceivedMessage] = asyncio.Queue()

    async def follow() -> None:
        async for message in alice.listen():
            await arrived.put(message)

    listener = asyncio.create_task(follow())
    await asyncio.sleep(0.5)  # connected, most likely; if not it arrives as backlog
    await bob.send("alice@chat", CANARIES["epsilon"])
    live = await asyncio.wait_for(arrived.get(), LIVE_TIMEOUT_S)
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    assert live.text == CANARIES["epsilon"]
    remember_secrets()
    for client in clients.values():
        await client.close()
    live_server.stop()  # flushes the log and checkpoints the WAL into the database

    files = {
        **snapshots,
        **{f"final {k}": v for k, v in server_files(live_server.directory).items()},
    }
    assert any(name.endswith("-wal") for name in files)  # the WAL was searched too
    assert any(name.endswith(live_server.log_path.name) for name in files)
    assert find_leaks(files, {k: v.encode() for k, v in CANARIES.items()}) == []
    for name in ("alice", "bob", "carol"):  # every kind of secret was collected
        for kind in ("store key", "identity DH key", "one-time prekey", "KEM prekey", "root key"):
            assert any(label.startswith(name) and kind in label for label in secrets)
    assert find_leaks(files, secrets) == []

    # Nor where anyone connected from: the only address:port in the log is the server's.
    ports = set(re.findall(rb"127\.0\.0\.1:(\d+)", live_server.log_path.read_bytes()))
    assert ports == {str(live_server.port).encode()}

    # Positive control on the very same bytes: the public account keys, which the
    # server must hold, are found by the same search.
    public = {address: account_public_key(profile) for address, profile in profiles.items()}
    assert {leak.needle for leak in find_leaks(files, public)} == set(ADDRESSES)


def test_canaries_planted_in_a_scratch_copy_are_found(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """Positive control: plaintext written into a copy of a real server database, in
    the shapes a careless server would use, is found by the same search."""
    live_server.stop()
    scratch = tmp_path / "scratch"
    shutil.copytree(live_server.directory, scratch)
    canary = CANARIES["gamma"].encode()
    secret = bytes(range(32))
    with sqlite3.connect(scratch / live_server.db_path.name) as conn:
        conn.execute("CREATE TABLE careless (note TEXT, blob BLOB)")
        conn.execute(
            "INSERT INTO careless VALUES (?, ?)",
            ('{"body": "x' + base64.b64encode(b"pre" + canary).decode() + '"}', secret),
        )
    with (scratch / live_server.log_path.name).open("a", encoding="utf-16-le") as log:
        log.write(f"DEBUG delivering {CANARIES['alpha']}\n")
    files = server_files(scratch)
    found = {(leak.needle, leak.form) for leak in find_leaks(files, {"gamma": canary})}
    assert ("gamma", "base64+0") in found  # "pre" shifts the canary by 3 bytes
    assert {leak.needle for leak in find_leaks(files, {"key": secret})} == {"key"}
    alpha = find_leaks(files, {"alpha": CANARIES["alpha"].encode()})
    assert ("utf-16-le", "server.log") in {(leak.form, leak.file) for leak in alpha}
    assert {leak.file for leak in alpha} == {"server.log"}
    assert find_leaks(files, {"absent": b"canary-never-written"}) == []


@settings(max_examples=200, deadline=None)
@given(
    needle=st.binary(min_size=MIN_NEEDLE_BYTES, max_size=64),
    before=st.binary(max_size=8),
    after=st.binary(max_size=8),
)
def test_encoded_forms_match_inside_any_larger_value(
    needle: bytes, before: bytes, after: bytes
) -> None:
    """Whatever surrounds a secret before it is encoded, one of its forms still matches."""
    forms = set(encoded_forms(needle).values())
    whole = before + needle + after
    for encoded in (
        whole,
        whole.hex().encode(),
        whole.hex().upper().encode(),
        base64.b64encode(whole),
        base64.urlsafe_b64encode(whole),
    ):
        assert any(form in encoded for form in forms)


@settings(max_examples=50, deadline=None)
@given(text=st.text(min_size=MIN_NEEDLE_BYTES, max_size=40), before=st.text(max_size=4))
def test_text_is_found_in_utf16(text: str, before: str) -> None:
    forms = set(encoded_forms(text.encode()).values())
    for codec in ("utf-16-le", "utf-16-be"):
        assert any(form in (before + text).encode(codec) for form in forms)
