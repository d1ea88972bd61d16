"""The local store at rest: sealed, owner-only, and loud about tampering."""

from __future__ import annotations

import sqlite3
import stat
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ProfileError
from sottovoce.client.prekey_supply import PREKEY_BATCH
from sottovoce.client.store import DB_FILE
from sottovoce.client.store_key import KEY_FILE, PROFILE_FILE
from tests.sdk.conftest import MakeClient, profile_of, texts

TO_BOB = "Treffpunkt: Brücke 7, 21:40 — bring the ledger"
TO_ALICE = "understood; the ledger stays at 🏠 until then"
PASSPHRASE = "correct horse battery staple"


def store_bytes(profile: Path) -> bytes:
    """Every byte SQLite keeps for the store: the database, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in sorted(profile.glob(DB_FILE + "*")))


def secrets_of(client: Client) -> dict[str, bytes]:
    keys = client._prekeys.keys
    account_key = client._store.get("account_key", "self")
    assert account_key is not None
    return {
        "identity signing key": client._identity.signing_key.private_bytes(),
        "identity agreement key": client._identity.dh_key.private_bytes(),
        "account key": account_key,
        "signed prekey": keys.signed_prekey(1).key_pair.private_bytes(),
        # The newest one: the server hands the oldest out first, so this one is unused.
        "one-time prekey": keys.one_time_prekey(PREKEY_BATCH).key_pair.private_bytes(),
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def chatted(make_client: MakeClient) -> tuple[Client, Client]:
    """alice@chat (key file) and bob@photos (passphrase), one message each way."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos", passphrase=PASSPHRASE)
    await alice.send(bob.address, TO_BOB)
    assert await texts(bob) == [TO_BOB]
    await bob.send(alice.address, TO_ALICE)
    assert await texts(alice) == [TO_ALICE]
    return alice, bob


async def test_nothing_readable_in_the_store_while_open_or_closed(
    chatted: tuple[Client, Client],
) -> None:
    alice, bob = chatted
    needles: dict[str, bytes] = {}
    for client in chatted:
        handle = client.address.split("@")[0]
        needles.update(
            {f"{handle}: {k}": v for k, v in secrets_of(client).items()},
        )
        needles[f"{handle} handle"] = handle.encode()
    for text in (TO_BOB, TO_ALICE):
        needles[text] = text.encode()
        needles[text + " (utf-16)"] = text.encode("utf-16-le")
    needles["a word of a message"] = b"ledger"
    needles["alice's store key"] = (profile_of(alice) / KEY_FILE).read_bytes()
    needles["bob's passphrase"] = PASSPHRASE.encode()

    for moment in ("open", "closed"):
        for client in (alice, bob):
            raw = store_bytes(profile_of(client))
            assert len(raw) > 4096, "the store holds data"
            leaked = [name for name, needle in needles.items() if needle in raw]
            assert leaked == [], (moment, client.address, leaked)
        if moment == "open":
            await alice.close()
            await bob.close()
    assert PASSPHRASE.encode() not in (profile_of(bob) / PROFILE_FILE).read_bytes()


async def test_profile_files_are_for_the_owner_only(chatted: tuple[Client, Client]) -> None:
    alice, bob = chatted
    assert mode(profile_of(alice) / KEY_FILE) == 0o600
    assert not (profile_of(bob) / KEY_FILE).exists()
    for client in chatted:
        profile = profile_of(client)
        assert mode(profile) == 0o700
        for path in profile.glob(DB_FILE + "*"):
            assert mode(path) == 0o600, path
        assert mode(profile / PROFILE_FILE) == 0o600


async def test_a_passphrase_profile_opens_only_with_its_passphrase(
    chatted: tuple[Client, Client],
) -> None:
    _, bob = chatted
    await bob.close()
    profile = profile_of(bob)
    for wrong in ("correct horse battery stapl", PASSPHRASE.upper(), " " + PASSPHRASE):
        with pytest.raises(ProfileError, match="wrong passphrase"):
            await Client.open(profile, passphrase=wrong)
    with pytest.raises(ProfileError, match="locked with a passphrase"):
        await Client.open(profile)
    reopened = await Client.open(profile, passphrase=PASSPHRASE)
    try:
        assert [e.text for e in reopened.history(reopened.conversations()[0].peer)] == [
            TO_BOB,
            TO_ALICE,
        ]
    finally:
        await reopened.close()


async def test_a_passphrase_is_the_same_however_its_accents_were_typed(
    make_client: MakeClient,
) -> None:
    composed = unicodedata.normalize("NFC", "crème brûlée à minuit")
    client = await make_client("dana", passphrase=composed)
    await client.close()
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed.encode() != composed.encode()
    reopened = await Client.open(profile_of(client), passphrase=decomposed)
    await reopened.close()


async def test_a_key_file_profile_refuses_a_passphrase_and_a_damaged_key(
    chatted: tuple[Client, Client],
) -> None:
    alice, _ = chatted
    await alice.close()
    profile = profile_of(alice)
    with pytest.raises(ProfileError, match="has no passphrase"):
        await Client.open(profile, passphrase="anything")
    key_file = profile / KEY_FILE
    good = key_file.read_bytes()
    key_file.write_bytes(bytes(b ^ 0xFF for b in good))
    with pytest.raises(ProfileError, match="wrong passphrase, or the local store is damaged"):
        await Client.open(profile)
    key_file.write_bytes(good[:-1])
    with pytest.raises(ProfileError, match="key file"):
        await Client.open(profile)
    key_file.write_bytes(good)
    await (await Client.open(profile)).close()


def rows(profile: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(profile / DB_FILE) as conn:
        return conn.execute(sql, args).fetchall()


def execute(profile: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(profile / DB_FILE) as conn:
        conn.execute(sql, args)


def flip_byte(value: bytes, at: int = 20) -> bytes:
    data = bytearray(value)
    data[at] ^= 0x01
    return bytes(data)


async def test_a_tampered_history_row_is_an_error_not_garbage(
    chatted: tuple[Client, Client],
) -> None:
    alice, _ = chatted
    peer = alice.conversations()[0].peer
    await alice.close()
    profile = profile_of(alice)
    ((seq, value),) = rows(profile, "SELECT seq, value FROM history ORDER BY seq DESC LIMIT 1")
    execute(profile, "UPDATE history SET value = ? WHERE seq = ?", flip_byte(value), seq)
    reopened = await Client.open(profile)
    try:
        with pytest.raises(ProfileError, match="failed authentication"):
            reopened.history(peer)
    finally:
        await reopened.close()


async def test_reordered_history_rows_are_detected(chatted: tuple[Client, Client]) -> None:
    alice, _ = chatted
    peer = alice.conversations()[0].peer
    await alice.close()
    profile = profile_of(alice)
    (first, first_value), (second, second_value) = rows(
        profile, "SELECT seq, value FROM history ORDER BY seq"
    )
    execute(profile, "UPDATE history SET value = ? WHERE seq = ?", second_value, first)
    execute(profile, "UPDATE history SET value = ? WHERE seq = ?", first_value, second)
    reopened = await Client.open(profile)
    try:
        with pytest.raises(ProfileError):
            reopened.history(peer)
    finally:
        await reopened.close()


async def test_a_record_moved_to_another_row_is_detected(
    chatted: tuple[Client, Client],
) -> None:
    """Alice's contact record for bob, copied over her conversation with him: both
    are valid sealed values, but each is bound to its own row."""
    alice, _ = chatted
    await alice.close()
    profile = profile_of(alice)
    ((contact,),) = rows(profile, "SELECT value FROM records WHERE kind = 'contact'")
    execute(profile, "UPDATE records SET value = ? WHERE kind = 'conversation'", contact)
    reopened = await Client.open(profile)
    try:
        with pytest.raises(ProfileError, match="failed authentication"):
            reopened.conversations()
    finally:
        await reopened.close()


async def test_a_truncated_identity_stops_the_profile_from_opening(
    chatted: tuple[Client, Client],
) -> None:
    _, bob = chatted
    await bob.close()
    profile = profile_of(bob)
    ((value,),) = rows(profile, "SELECT value FROM records WHERE kind = 'identity'")
    for damaged in (bytes(value)[:-1], bytes(value)[:10], flip_byte(value, len(value) - 1)):
        execute(profile, "UPDATE records SET value = ? WHERE kind = 'identity'", damaged)
        with pytest.raises(ProfileError):
            await Client.open(profile, passphrase=PASSPHRASE)


async def test_a_tampered_session_keeps_the_message_queued(
    chatted: tuple[Client, Client],
) -> None:
    """A damaged session makes fetch fail loudly, and the message it could not
    read stays on the server instead of being dropped."""
    alice, bob = chatted
    bob_profile = profile_of(bob)
    await bob.close()
    ((lookup, value),) = rows(
        bob_profile, "SELECT lookup, value FROM records WHERE kind = 'session'"
    )
    execute(bob_profile, "UPDATE records SET value = ? WHERE lookup = ?", flip_byte(value), lookup)
    await alice.send(bob.address, "held while the session is damaged")
    reopened = await Client.open(bob_profile, passphrase=PASSPHRASE)
    try:
        with pytest.raises(ProfileError):
            await reopened.fetch()
        queued = await reopened._transport.request("GET", "/v1/messages")
        assert len(queued["messages"]) == 1
    finally:
        await reopened.close()


async def test_reprs_never_show_message_text(chatted: tuple[Client, Client]) -> None:
    alice, bob = chatted
    sent = await alice.send(bob.address, "a sentence no log should hold")
    (received,) = await bob.fetch()
    for value in (sent, received, *bob.history(alice.address), *bob.conversations()):
        assert "no log should hold" not in repr(value)
    assert "no log should hold" not in repr(bob)
