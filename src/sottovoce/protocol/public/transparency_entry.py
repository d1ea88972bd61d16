"""One record of the key-transparency log: an account's key or device list changed.

The log is public, but the list of accounts is not: an entry names its account
only by a commitment, ``HMAC-SHA-256(salt, _COMMITMENT_CONTEXT || address)``
with a 32-byte random salt the server draws once per account. The server hands
the salt to whoever looks the address up, so a client can check that the entry
it is shown is about the address it asked for; everyone else sees 32 random
bytes and cannot test guesses of handles (they are short and easy to enumerate,
so a plain hash of the address would publish the user list).

- Hiding: HMAC-SHA-256 is a PRF in its key, so without the salt a commitment
  says nothing about the address.
- Binding: the key is always exactly 32 bytes, so two different (salt, address)
  pairs with one commitment would be a SHA-256 collision: a commitment opens to
  one address only.
- One salt per account, not per entry, so an account's owner (and anyone who
  holds its salt) recognises all of its entries by scanning the log, and a
  client can pin the commitment the way it pins an identity key.

Limits, documented in docs/transparency.md: entries of one account are
linkable to each other (the log shows how often each pseudonymous account
changes keys, and how many accounts exist); the operator knows every salt; and
nothing forces one commitment per address, so the operator could file a second
account under a fresh salt and show it to some clients only. A verifiable
random function (RFC 9381) would make the label unique; pyca/cryptography has
none, so clients pin the commitment and owners monitor their own.

Layout (all integers big-endian)::

    "SVKT" | u8 format=1 | u8 kind | 32-byte account commitment | u32 day | body
    kind 1 account key:    32-byte Ed25519 account public key
    kind 2 device list:    u64 version | 32-byte SHA-256 of the signed device list
    kind 3 account closed: (empty)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from sottovoce.crypto.hashing import constant_time_equal, hmac_sha256, sha256
from sottovoce.crypto.signing import PUBLIC_KEY_LEN
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.device_list import MAX_ADDRESS_LEN

_MAGIC = b"SVKT"
_FORMAT = 1
_COMMITMENT_CONTEXT = b"Sottovoce KT account v1\x00"
_HEADER = struct.Struct(">4sBB32sI")
_DEVICE_LIST_BODY = struct.Struct(">Q32s")
COMMITMENT_LEN = 32
# 256 bits: the salt is the only secret between a guessed address and its commitment.
SALT_LEN = 32
DIGEST_LEN = 32
# Days since 1970-01-01 UTC, u32 like the device list's added_day: a day is as
# precise as the log needs to be, and no more than the server may know.
MAX_DAY = 2**32 - 1
MAX_VERSION = 2**64 - 1


class EntryKind(IntEnum):
    ACCOUNT_KEY = 1
    DEVICE_LIST = 2
    ACCOUNT_CLOSED = 3


def account_commitment(address: str, salt: bytes) -> bytes:
    """The log's name for ``address``: hides it from anyone without ``salt``, binds to it."""
    if len(salt) != SALT_LEN:
        raise ValueError(f"an account salt is {SALT_LEN} bytes")
    encoded = address.encode()
    if not 0 < len(encoded) <= MAX_ADDRESS_LEN:
        raise ValueError(f"an address is 1 to {MAX_ADDRESS_LEN} bytes of UTF-8")
    return hmac_sha256(salt, _COMMITMENT_CONTEXT + encoded)


def verify_account_commitment(commitment: bytes, address: str, salt: bytes) -> None:
    """Raise :class:`VerificationError` unless ``commitment`` opens to ``address`` with ``salt``."""
    if len(salt) != SALT_LEN:
        raise VerificationError(f"account salt must be {SALT_LEN} bytes, got {len(salt)}")
    if not constant_time_equal(account_commitment(address, salt), commitment):
        raise VerificationError("log entry is not about this address")


def device_list_digest(signed_device_list: bytes) -> bytes:
    """What a device-list entry publishes: SHA-256 of the signed list exactly as served."""
    return sha256(signed_device_list)


def _header(kind: EntryKind, account: bytes, day: int) -> bytes:
    if len(account) != COMMITMENT_LEN:
        raise ValueError(f"an account commitment is {COMMITMENT_LEN} bytes")
    if not 0 <= day <= MAX_DAY:
        raise ValueError("day does not fit in 32 bits")
    return _HEADER.pack(_MAGIC, _FORMAT, kind, account, day)


@dataclass(frozen=True, slots=True)
class AccountKeyEntry:
    """The account identity key (which signs the device list) is now ``account_key``."""

    account: bytes
    day: int
    account_key: bytes

    def to_bytes(self) -> bytes:
        if len(self.account_key) != PUBLIC_KEY_LEN:
            raise ValueError(f"an account key is {PUBLIC_KEY_LEN} bytes")
        return _header(EntryKind.ACCOUNT_KEY, self.account, self.day) + self.account_key


@dataclass(frozen=True, slots=True)
class DeviceListEntry:
    """The account's device list is now version ``version``, with this digest."""

    account: bytes
    day: int
    version: int
    digest: bytes

    def to_bytes(self) -> bytes:
        if len(self.digest) != DIGEST_LEN:
            raise ValueError(f"a device list digest is {DIGEST_LEN} bytes")
        if not 0 <= self.version <= MAX_VERSION:
            raise ValueError("device list version does not fit in 64 bits")
        body = _DEVICE_LIST_BODY.pack(self.version, self.digest)
        return _header(EntryKind.DEVICE_LIST, self.account, self.day) + body

    def verify_device_list(self, signed_device_list: bytes) -> None:
        """Raise :class:`VerificationError` unless this entry logs exactly that device list."""
        if not constant_time_equal(device_list_digest(signed_device_list), self.digest):
            raise VerificationError(f"device list is not the one logged as version {self.version}")


@dataclass(frozen=True, slots=True)
class AccountClosedEntry:
    """The account was closed: no key or device list of it is valid from here on."""

    account: bytes
    day: int

    def to_bytes(self) -> bytes:
        return _header(EntryKind.ACCOUNT_CLOSED, self.account, self.day)


TransparencyEntry = AccountKeyEntry | DeviceListEntry | AccountClosedEntry

_BODY_LEN = {
    EntryKind.ACCOUNT_KEY: PUBLIC_KEY_LEN,
    EntryKind.DEVICE_LIST: _DEVICE_LIST_BODY.size,
    EntryKind.ACCOUNT_CLOSED: 0,
}
MAX_ENTRY_LEN = _HEADER.size + max(_BODY_LEN.values())


def parse_entry(data: bytes) -> TransparencyEntry:
    """Parse one log entry; every malformation is a :class:`DecodeError` naming it."""
    if len(data) < _HEADER.size:
        raise DecodeError(f"log entry is truncated: {len(data)} bytes")
    magic, fmt, kind_value, account, day = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise DecodeError("log entry has the wrong magic")
    if fmt != _FORMAT:
        raise DecodeError(f"unknown log entry format {fmt}")
    try:
        kind = EntryKind(kind_value)
    except ValueError:
        raise DecodeError(f"unknown log entry kind {kind_value}") from None
    body = data[_HEADER.size :]
    if len(body) != _BODY_LEN[kind]:
        raise DecodeError(
            f"{kind.name.lower()} entry body is {len(body)} bytes, expected {_BODY_LEN[kind]}"
        )
    if kind is EntryKind.ACCOUNT_KEY:
        return AccountKeyEntry(account, day, body)
    if kind is EntryKind.DEVICE_LIST:
        version, digest = _DEVICE_LIST_BODY.unpack(body)
        return DeviceListEntry(account, day, version, digest)
    return AccountClosedEntry(account, day)
