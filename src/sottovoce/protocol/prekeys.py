"""Prekeys a device publishes (PQXDH §3.2) and the store it consults when a peer uses one.

Private halves never leave the device; the server only ever sees ``.public`` and
the signatures, which anyone can check with ``protocol.public.prekeys``.
Storage layouts (big-endian)::

    SignedPreKey:  u8 version | u32 key_id | X25519 private (32) | signature (64)
    OneTimePreKey: u8 version | u32 key_id | X25519 private (32)
    KemPreKey:     u8 version | u32 key_id | u8 last_resort | ML-KEM seed (64) | signature (64)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sottovoce.crypto import dh, kem, signing
from sottovoce.crypto.errors import InvalidKey
from sottovoce.protocol.encoding import Reader, check_version
from sottovoce.protocol.errors import DecodeError, UnknownPreKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.limits import MAX_PREKEY_ID
from sottovoce.protocol.public.prekeys import (
    PrekeyKind,
    kem_prekey_kind,
    prekey_signature_message,
)

_STORAGE_VERSION = 1
# A batch upload rarely exceeds a hundred keys; the cap stops a caller's typo
# from generating millions of ML-KEM keys.
MAX_PREKEYS_PER_BATCH = 1000


def _check_key_id(key_id: int) -> None:
    if not 0 <= key_id <= MAX_PREKEY_ID:
        raise ValueError(f"prekey id {key_id} is outside 0..{MAX_PREKEY_ID}")


def _check_batch(start_id: int, count: int) -> None:
    if not 0 < count <= MAX_PREKEYS_PER_BATCH:
        raise ValueError(f"prekey batch size {count} is outside 1..{MAX_PREKEYS_PER_BATCH}")
    _check_key_id(start_id)
    _check_key_id(start_id + count - 1)


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    """SPK_B: the medium-term X25519 prekey, signed by the identity (PQXDH §2.4)."""

    key_id: int
    key_pair: dh.DHKeyPair
    signature: bytes

    @property
    def public(self) -> bytes:
        return self.key_pair.public

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                bytes([_STORAGE_VERSION]),
                self.key_id.to_bytes(4, "big"),
                self.key_pair.private_bytes(),
                self.signature,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedPreKey:
        reader = Reader(data, "signed prekey")
        check_version(reader.u8("version"), _STORAGE_VERSION, "signed prekey")
        key_id = reader.u32("key id")
        private = reader.fixed(dh.PRIVATE_KEY_LEN, "private key")
        signature = reader.fixed(signing.SIGNATURE_LEN, "signature")
        reader.finish()
        try:
            return cls(key_id, dh.DHKeyPair.from_bytes(private), signature)
        except InvalidKey as exc:
            raise DecodeError("signed prekey holds an invalid key") from exc


@dataclass(frozen=True, slots=True)
class OneTimePreKey:
    """OPK_B: an unsigned single-use X25519 prekey (PQXDH §2.4)."""

    key_id: int
    key_pair: dh.DHKeyPair

    @property
    def public(self) -> bytes:
        return self.key_pair.public

    def to_bytes(self) -> bytes:
        return (
            bytes([_STORAGE_VERSION])
            + self.key_id.to_bytes(4, "big")
            + self.key_pair.private_bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> OneTimePreKey:
        reader = Reader(data, "one-time prekey")
        check_version(reader.u8("version"), _STORAGE_VERSION, "one-time prekey")
        key_id = reader.u32("key id")
        private = reader.fixed(dh.PRIVATE_KEY_LEN, "private key")
        reader.finish()
        try:
            return cls(key_id, dh.DHKeyPair.from_bytes(private))
        except InvalidKey as exc:
            raise DecodeError("one-time prekey holds an invalid key") from exc


@dataclass(frozen=True, slots=True)
class KemPreKey:
    """PQSPK_B (last resort) or PQOPK_B (one-time): a signed ML-KEM-1024 prekey."""

    key_id: int
    key_pair: kem.KemKeyPair
    signature: bytes
    last_resort: bool

    @property
    def public(self) -> bytes:
        return self.key_pair.public

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                bytes([_STORAGE_VERSION]),
                self.key_id.to_bytes(4, "big"),
                b"\x01" if self.last_resort else b"\x00",
                self.key_pair.private_bytes(),
                self.signature,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> KemPreKey:
        reader = Reader(data, "KEM prekey")
        check_version(reader.u8("version"), _STORAGE_VERSION, "KEM prekey")
        key_id = reader.u32("key id")
        last_resort = reader.flag("last-resort flag")
        seed = reader.fixed(kem.SEED_LEN, "seed")
        signature = reader.fixed(signing.SIGNATURE_LEN, "signature")
        reader.finish()
        try:
            return cls(key_id, kem.KemKeyPair.from_bytes(seed), signature, last_resort)
        except InvalidKey as exc:
            raise DecodeError("KEM prekey holds an invalid key") from exc


def generate_signed_prekey(identity: IdentityKeyPair, key_id: int) -> SignedPreKey:
    """PQXDH §3.2: a fresh SPK and Sig(IK_B, Encode(SPK_B))."""
    _check_key_id(key_id)
    key_pair = dh.DHKeyPair.generate()
    message = prekey_signature_message(PrekeyKind.SIGNED_EC, key_id, key_pair.public)
    return SignedPreKey(key_id, key_pair, identity.sign(message))


def generate_one_time_prekeys(start_id: int, count: int) -> list[OneTimePreKey]:
    """PQXDH §3.2: ``count`` one-time curve prekeys with consecutive ids."""
    _check_batch(start_id, count)
    return [OneTimePreKey(start_id + i, dh.DHKeyPair.generate()) for i in range(count)]


def generate_kem_prekeys(
    identity: IdentityKeyPair, start_id: int, count: int, *, last_resort: bool = False
) -> list[KemPreKey]:
    """PQXDH §3.2: signed ML-KEM-1024 prekeys, one-time unless ``last_resort``."""
    _check_batch(start_id, count)
    kind = kem_prekey_kind(last_resort)
    keys = []
    for key_id in range(start_id, start_id + count):
        key_pair = kem.KemKeyPair.generate()
        signature = identity.sign(prekey_signature_message(kind, key_id, key_pair.public))
        keys.append(KemPreKey(key_id, key_pair, signature, last_resort))
    return keys


class PreKeyStore(Protocol):
    """Where a responder's private prekeys live; each lookup raises UnknownPreKey if absent.

    Lookups never delete: the caller removes consumed one-time keys in the same
    transaction that stores the new session (see ``Session.respond``).
    """

    def signed_prekey(self, key_id: int) -> SignedPreKey: ...

    def one_time_prekey(self, key_id: int) -> OneTimePreKey: ...

    def kem_prekey(self, key_id: int) -> KemPreKey: ...


class InMemoryPreKeyStore:
    """A dictionary-backed :class:`PreKeyStore` for tests, benchmarks and tools."""

    def __init__(self) -> None:
        self.signed: dict[int, SignedPreKey] = {}
        self.one_time: dict[int, OneTimePreKey] = {}
        self.kem: dict[int, KemPreKey] = {}

    def add_signed(self, key: SignedPreKey) -> None:
        self.signed[key.key_id] = key

    def add_one_time(self, keys: list[OneTimePreKey]) -> None:
        self.one_time.update((key.key_id, key) for key in keys)

    def add_kem(self, keys: list[KemPreKey]) -> None:
        self.kem.update((key.key_id, key) for key in keys)

    def signed_prekey(self, key_id: int) -> SignedPreKey:
        try:
            return self.signed[key_id]
        except KeyError:
            raise UnknownPreKey(f"no signed prekey with id {key_id}") from None

    def one_time_prekey(self, key_id: int) -> OneTimePreKey:
        try:
            return self.one_time[key_id]
        except KeyError:
            raise UnknownPreKey(f"no one-time prekey with id {key_id}") from None

    def kem_prekey(self, key_id: int) -> KemPreKey:
        try:
            return self.kem[key_id]
        except KeyError:
            raise UnknownPreKey(f"no KEM prekey with id {key_id}") from None
