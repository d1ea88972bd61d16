"""Log entries: exact layouts, strict parsing, and account commitments that hide and bind."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.protocol.public.identity import PublicIdentity, binding_message
from sottovoce.protocol.public.transparency_entry import (
    MAX_ENTRY_LEN,
    SALT_LEN,
    AccountClosedEntry,
    AccountKeyEntry,
    DeviceListEntry,
    TransparencyEntry,
    account_commitment,
    device_list_digest,
    parse_entry,
    verify_account_commitment,
)

SALT = bytes(range(SALT_LEN))
ACCOUNT = account_commitment("alice@chat", SALT)
ACCOUNT_KEY = SigningKey.generate()


def signed_device_list(version: int) -> bytes:
    device_key = SigningKey.generate()
    dh_public = bytes(32)
    identity = PublicIdentity(
        device_key.public, dh_public, device_key.sign(binding_message(dh_public))
    )
    devices = (DeviceEntry(1, identity, 20_000),)
    return DeviceList("alice@chat", version, devices).sign(ACCOUNT_KEY)


def test_commitment_is_the_documented_hmac() -> None:
    expected = hmac.new(SALT, b"Sottovoce KT account v1\x00alice@chat", "sha256").digest()
    assert expected == ACCOUNT


def test_commitment_binds_address_and_salt() -> None:
    verify_account_commitment(ACCOUNT, "alice@chat", SALT)
    with pytest.raises(VerificationError, match="not about this address"):
        verify_account_commitment(ACCOUNT, "alice@photos", SALT)
    with pytest.raises(VerificationError, match="not about this address"):
        verify_account_commitment(ACCOUNT, "alice@chat", bytes(SALT_LEN))
    with pytest.raises(VerificationError, match="salt must be 32 bytes, got 31"):
        verify_account_commitment(ACCOUNT, "alice@chat", SALT[:-1])


@settings(max_examples=50, deadline=None)
@given(
    st.binary(min_size=SALT_LEN, max_size=SALT_LEN), st.binary(min_size=SALT_LEN, max_size=SALT_LEN)
)
def test_the_salt_changes_the_commitment(first: bytes, second: bytes) -> None:
    """A guessed address is worth nothing without its account's salt."""
    if first != second:
        assert account_commitment("bob@chat", first) != account_commitment("bob@chat", second)


def test_commitment_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        account_commitment("alice@chat", b"short")
    with pytest.raises(ValueError, match="1 to 128 bytes"):
        account_commitment("", SALT)
    with pytest.raises(ValueError, match="1 to 128 bytes"):
        account_commitment("a" * 129, SALT)


def test_layouts() -> None:
    key_entry = AccountKeyEntry(ACCOUNT, 20_000, ACCOUNT_KEY.public).to_bytes()
    assert key_entry[:6] == b"SVKT\x01\x01"
    assert key_entry[6:38] == ACCOUNT
    assert key_entry[38:42] == (20_000).to_bytes(4, "big")
    assert key_entry[42:] == ACCOUNT_KEY.public
    digest = device_list_digest(b"list")
    list_entry = DeviceListEntry(ACCOUNT, 20_001, 7, digest).to_bytes()
    assert list_entry[4:6] == b"\x01\x02"
    assert list_entry[42:] == (7).to_bytes(8, "big") + digest
    assert len(list_entry) == MAX_ENTRY_LEN == 82
    assert AccountClosedEntry(ACCOUNT, 20_002).to_bytes()[4:6] == b"\x01\x03"
    assert len(AccountClosedEntry(ACCOUNT, 20_002).to_bytes()) == 42


ENTRIES: list[TransparencyEntry] = [
    AccountKeyEntry(ACCOUNT, 20_000, ACCOUNT_KEY.public),
    DeviceListEntry(ACCOUNT, 20_001, 2**64 - 1, device_list_digest(b"list")),
    AccountClosedEntry(ACCOUNT, 2**32 - 1),
]


@pytest.mark.parametrize("entry", ENTRIES)
def test_round_trip(entry: TransparencyEntry) -> None:
    assert parse_entry(entry.to_bytes()) == entry


@pytest.mark.parametrize("entry", ENTRIES)
def test_truncated_or_extended_entries_are_refused(entry: TransparencyEntry) -> None:
    data = entry.to_bytes()
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            parse_entry(data[:cut])
    with pytest.raises(DecodeError, match="body is"):
        parse_entry(data + b"\x00")


def test_malformed_headers_name_the_fault() -> None:
    data = ENTRIES[0].to_bytes()
    for bad, message in (
        (b"", "truncated: 0 bytes"),
        (b"SVKX" + data[4:], "wrong magic"),
        (data[:4] + b"\x02" + data[5:], "unknown log entry format 2"),
        (data[:5] + b"\x09" + data[6:], "unknown log entry kind 9"),
        (data[:5] + b"\x03" + data[6:], "account_closed entry body is 32 bytes, expected 0"),
    ):
        with pytest.raises(DecodeError, match=message):
            parse_entry(bad)


def test_fields_that_do_not_fit_are_refused_when_encoding() -> None:
    with pytest.raises(ValueError, match="commitment"):
        AccountClosedEntry(b"short", 1).to_bytes()
    with pytest.raises(ValueError, match="32 bits"):
        AccountClosedEntry(ACCOUNT, 2**32).to_bytes()
    with pytest.raises(ValueError, match="account key"):
        AccountKeyEntry(ACCOUNT, 1, b"short").to_bytes()
    with pytest.raises(ValueError, match="digest"):
        DeviceListEntry(ACCOUNT, 1, 1, b"short").to_bytes()
    with pytest.raises(ValueError, match="64 bits"):
        DeviceListEntry(ACCOUNT, 1, 2**64, bytes(32)).to_bytes()


def test_device_list_entry_names_exactly_one_signed_list() -> None:
    served = signed_device_list(3)
    entry = DeviceListEntry(ACCOUNT, 20_000, 3, device_list_digest(served))
    entry.verify_device_list(served)
    with pytest.raises(VerificationError, match="not the one logged as version 3"):
        entry.verify_device_list(signed_device_list(3))
    with pytest.raises(VerificationError):
        entry.verify_device_list(served[:-1])
