"""The encrypted local store on its own: unlocking, sealing at rest, tampering, atomicity."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.client.errors import ProfileError
from sottovoce.client.store import DB_FILE, Store
from sottovoce.client.store_key import KEY_FILE, PROFILE_FILE
from tests.support.people import FAST_ARGON2

CANARY_NAME = "carol@photos"
CANARY_VALUE = b"the vault combination is 31-7-42"


def raw_profile_bytes(directory: Path) -> bytes:
    """Everything on disk for a profile: the database, its WAL, and the rest."""
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def fill(store: Store) -> None:
    with store.transaction():
        store.put("contact", CANARY_NAME, CANARY_VALUE)
        store.put_json("conversation", CANARY_NAME, {"peer": CANARY_NAME, "text": "hi"})
        store.append_history(CANARY_NAME, {"text": CANARY_VALUE.decode()})


@pytest.mark.parametrize("passphrase", [None, "correct horse battery staple"])
def test_values_and_names_are_not_visible_at_rest(tmp_path: Path, passphrase: str | None) -> None:
    store = Store.create(tmp_path / "p", passphrase, FAST_ARGON2)
    fill(store)
    raw_while_open = raw_profile_bytes(tmp_path / "p")
    store.close()
    for raw in (raw_while_open, raw_profile_bytes(tmp_path / "p")):
        assert CANARY_VALUE not in raw
        assert CANARY_NAME.encode() not in raw
        assert b"carol" not in raw
    reopened = Store.open(tmp_path / "p", passphrase)
    assert reopened.get("contact", CANARY_NAME) == CANARY_VALUE
    assert reopened.history(CANARY_NAME, 10) == [{"text": CANARY_VALUE.decode()}]
    reopened.close()


def test_key_file_and_database_are_private_to_the_owner(tmp_path: Path) -> None:
    Store.create(tmp_path / "p").close()
    for name in (KEY_FILE, DB_FILE):
        assert stat.S_IMODE((tmp_path / "p" / name).stat().st_mode) == 0o600
    assert len((tmp_path / "p" / KEY_FILE).read_bytes()) == 32
    profile = json.loads((tmp_path / "p" / PROFILE_FILE).read_text())
    assert profile == {"version": 1, "kdf": "keyfile"}


def test_passphrase_profile_records_salt_and_costs_but_no_key(tmp_path: Path) -> None:
    Store.create(tmp_path / "p", "pw", FAST_ARGON2).close()
    assert not (tmp_path / "p" / KEY_FILE).exists()
    profile = json.loads((tmp_path / "p" / PROFILE_FILE).read_text())
    assert profile["kdf"] == "argon2id"
    assert (profile["memory_kib"], profile["iterations"], profile["lanes"]) == (8192, 1, 1)
    assert len(profile["salt"]) == 24  # 16 bytes in base64


def test_wrong_or_missing_passphrase_is_a_profile_error(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "p", "right", FAST_ARGON2)
    fill(store)
    store.close()
    with pytest.raises(ProfileError, match="wrong passphrase"):
        Store.open(tmp_path / "p", "wrong")
    with pytest.raises(ProfileError, match="locked with a passphrase"):
        Store.open(tmp_path / "p")
    Store.create(tmp_path / "k").close()
    with pytest.raises(ProfileError, match="has no passphrase"):
        Store.open(tmp_path / "k", "anything")
    with pytest.raises(ProfileError, match="empty passphrase"):
        Store.create(tmp_path / "e", "")


def test_passphrases_are_compared_after_unicode_normalization(tmp_path: Path) -> None:
    Store.create(tmp_path / "p", "caf\u00e9", FAST_ARGON2).close()  # precomposed é
    Store.open(tmp_path / "p", "cafe\u0301").close()  # e + combining accent


def test_tampered_value_is_detected(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "p")
    fill(store)
    store.close()
    with sqlite3.connect(tmp_path / "p" / DB_FILE) as conn:
        (value,) = conn.execute("SELECT value FROM records WHERE kind = 'contact'").fetchone()
        flipped = value[:20] + bytes([value[20] ^ 1]) + value[21:]
        conn.execute("UPDATE records SET value = ? WHERE kind = 'contact'", (flipped,))
    store = Store.open(tmp_path / "p")
    with pytest.raises(ProfileError, match="failed authentication"):
        store.get("contact", CANARY_NAME)
    store.close()


def test_values_swapped_between_rows_are_detected(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "p")
    with store.transaction():
        store.put("session", "alice@chat/1", b"session with alice")
        store.put("session", "bob@chat/1", b"session with bob")
    store.close()
    with sqlite3.connect(tmp_path / "p" / DB_FILE) as conn:
        rows = conn.execute("SELECT lookup, value FROM records WHERE kind = 'session'").fetchall()
        (first, first_value), (second, second_value) = rows
        conn.execute("UPDATE records SET value = ? WHERE lookup = ?", (second_value, first))
        conn.execute("UPDATE records SET value = ? WHERE lookup = ?", (first_value, second))
    store = Store.open(tmp_path / "p")
    with pytest.raises(ProfileError, match="failed authentication"):
        store.get("session", "alice@chat/1")
    store.close()


def test_history_rows_cannot_be_reordered(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "p")
    with store.transaction():
        store.append_history("bob@chat", {"text": "first"})
        store.append_history("bob@chat", {"text": "second"})
    assert [e["text"] for e in store.history("bob@chat", 10)] == ["first", "second"]
    store.close()
    with sqlite3.connect(tmp_path / "p" / DB_FILE) as conn:
        (one, v1), (two, v2) = conn.execute("SELECT seq, value FROM history").fetchall()
        conn.execute("UPDATE history SET value = ? WHERE seq = ?", (v2, one))
        conn.execute("UPDATE history SET value = ? WHERE seq = ?", (v1, two))
    store = Store.open(tmp_path / "p")
    with pytest.raises(ProfileError, match="failed authentication"):
        store.history("bob@chat", 10)
    store.close()


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "p")
    with store.transaction():
        store.put("session", "bob@chat/1", b"old state")
    with pytest.raises(RuntimeError, match="crash"), store.transaction():
        store.put("session", "bob@chat/1", b"new state")
        with store.transaction():  # nested: joins the outer transaction
            store.put("seen", "bob@chat/1/m1", b"")
            store.append_history("bob@chat", {"text": "m1"})
        raise RuntimeError("crash before commit")
    assert store.get("session", "bob@chat/1") == b"old state"
    assert store.get("seen", "bob@chat/1/m1") is None
    assert store.history("bob@chat", 10) == []
    store.close()


def test_writes_outside_a_transaction_are_refused(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "p")
    with pytest.raises(RuntimeError, match=r"inside Store\.transaction"):
        store.put("session", "x", b"y")
    store.close()


def test_damaged_profiles_are_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="create an account first"):
        Store.open(tmp_path / "missing")
    Store.create(tmp_path / "p", "pw", FAST_ARGON2).close()
    profile_path = tmp_path / "p" / PROFILE_FILE
    original = json.loads(profile_path.read_text())
    cases: list[tuple[object, str]] = [
        ("not json", "not JSON"),
        ({**original, "version": 9}, "not a version 1"),
        ({**original, "kdf": "rot13"}, "unknown key derivation"),
        ({**original, "salt": "short"}, "valid 16-byte salt"),
        ({**original, "memory_kib": 2**40}, "Argon2id memory"),
        ({**original, "iterations": 0}, "Argon2id passes"),
        ({**original, "lanes": "4"}, "Argon2id costs"),
    ]
    for content, message in cases:
        profile_path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(ProfileError, match=message):
            Store.open(tmp_path / "p", "pw")


def test_a_file_that_is_not_a_store_is_a_profile_error(tmp_path: Path) -> None:
    Store.create(tmp_path / "p").close()
    (tmp_path / "p" / DB_FILE).write_bytes(b"this is not an SQLite database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "p" / (DB_FILE + suffix)).unlink(missing_ok=True)
    with pytest.raises(ProfileError, match="damaged or not a Sottovoce store"):
        Store.open(tmp_path / "p")


def test_a_damaged_key_file_is_a_profile_error(tmp_path: Path) -> None:
    Store.create(tmp_path / "p").close()
    (tmp_path / "p" / KEY_FILE).write_bytes(b"short")
    with pytest.raises(ProfileError, match=r"key file .* is damaged"):
        Store.open(tmp_path / "p")


def test_an_existing_profile_is_never_overwritten(tmp_path: Path) -> None:
    Store.create(tmp_path / "p").close()
    with pytest.raises(ProfileError, match="already exists"):
        Store.create(tmp_path / "p")


def test_discard_removes_exactly_the_profile_files(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("the person's own file")
    Store.create(tmp_path / "p").discard()
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["notes.txt"]
    Store.create(tmp_path / "p").close()  # the directory can hold a new profile


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.dictionaries(
        st.tuples(st.sampled_from(["contact", "session", "seen"]), st.text(max_size=30)),
        st.binary(max_size=200),
        max_size=12,
    )
)
def test_records_round_trip_through_a_reopen(
    tmp_path_factory: pytest.TempPathFactory, records: dict[tuple[str, str], bytes]
) -> None:
    directory = tmp_path_factory.mktemp("roundtrip")
    store = Store.create(directory / "p")
    with store.transaction():
        for (kind, name), value in records.items():
            store.put(kind, name, value)
    store.close()
    store = Store.open(directory / "p")
    for (kind, name), value in records.items():
        assert store.get(kind, name) == value
    for kind in ("contact", "session", "seen"):
        expected = sorted(v for (k, _), v in records.items() if k == kind)
        assert sorted(store.all(kind)) == expected
    store.close()
