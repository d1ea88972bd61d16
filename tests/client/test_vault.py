"""Record sealing: confidentiality, integrity, and binding of each value to its row."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.client.errors import ProfileError
from sottovoce.client.vault import SEALED_OVERHEAD, STORE_KEY_LEN, Vault, row_context

KEY = bytes(range(STORE_KEY_LEN))


@settings(max_examples=50, deadline=None)
@given(
    kind=st.text(min_size=1, max_size=20),
    name=st.text(max_size=40),
    value=st.binary(max_size=512),
)
def test_sealed_values_open_only_in_their_own_row(kind: str, name: str, value: bytes) -> None:
    vault = Vault(KEY)
    context = row_context(kind, vault.index(kind, name))
    sealed = vault.seal(context, value)
    assert len(sealed) == len(value) + SEALED_OVERHEAD
    assert vault.open(context, sealed) == value
    moved = row_context(kind, vault.index(kind, name + "x"))
    with pytest.raises(ProfileError, match="failed authentication"):
        vault.open(moved, sealed)


def test_every_seal_uses_a_fresh_nonce() -> None:
    vault = Vault(KEY)
    context = row_context("session", b"row")
    assert vault.seal(context, b"same value") != vault.seal(context, b"same value")


def test_row_contexts_cannot_be_confused_by_splitting_parts() -> None:
    assert row_context("ab", b"c") != row_context("a", b"bc")
    assert row_context("history", b"peer", b"\x00" * 8) != row_context("history", b"peer\x00" * 2)


def test_blind_indexes_are_stable_keyed_and_separate_kinds() -> None:
    vault, other = Vault(KEY), Vault(bytes(STORE_KEY_LEN))
    assert vault.index("contact", "bob@photos") == vault.index("contact", "bob@photos")
    assert vault.index("contact", "bob@photos") != vault.index("session", "bob@photos")
    assert vault.index("contact", "bob@photos") != other.index("contact", "bob@photos")
    assert b"bob" not in vault.index("contact", "bob@photos")


def test_tampering_truncation_and_wrong_keys_are_profile_errors() -> None:
    vault = Vault(KEY)
    context = row_context("identity", b"self")
    sealed = vault.seal(context, b"secret key bytes")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(ProfileError, match="failed authentication"):
        vault.open(context, flipped)
    with pytest.raises(ProfileError, match="truncated"):
        vault.open(context, sealed[: SEALED_OVERHEAD - 1])
    with pytest.raises(ProfileError, match="failed authentication"):
        Vault(bytes(STORE_KEY_LEN)).open(context, sealed)
    with pytest.raises(ProfileError, match="32 bytes"):
        Vault(KEY[:16])


def test_repr_shows_no_key_material() -> None:
    assert repr(Vault(KEY)) == "Vault(<sealed>)"
