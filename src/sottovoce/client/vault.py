"""Sealing the local store's rows, so a stolen profile reveals nothing.

Two keys are derived from the 32-byte store key with HKDF-SHA-256 (RFC 5869,
distinct ``info`` per use): one for AES-256-GCM, one for HMAC-SHA-256 blind
indexes. Every value is sealed with a fresh random 96-bit nonce; NIST SP
800-38D §8.3 allows 2^32 random-nonce seals under one key, far beyond a
person's lifetime of writes. The associated data names the row (its table and
key), so a sealed value copied or swapped into another row fails to open.
Look-up keys are blind indexes: equal names give equal indexes, and nothing
about the name shows without the key.
"""

from __future__ import annotations

from sottovoce.client.errors import ProfileError
from sottovoce.crypto import aead, hashing
from sottovoce.crypto.errors import DecryptionFailed
from sottovoce.crypto.random import random_bytes

STORE_KEY_LEN = 32
_SEAL_INFO = b"Sottovoce store v1 seal"
_INDEX_INFO = b"Sottovoce store v1 index"
SEALED_OVERHEAD = aead.NONCE_LEN + aead.TAG_LEN


def row_context(table: str, *key_parts: bytes) -> bytes:
    """The associated data of one row: each part length-prefixed, so no two rows'
    contexts can coincide however their parts are split."""
    parts = (table.encode(), *key_parts)
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


class Vault:
    __slots__ = ("_aead", "_index_key")

    def __init__(self, store_key: bytes) -> None:
        if len(store_key) != STORE_KEY_LEN:
            raise ProfileError(f"the store key must be {STORE_KEY_LEN} bytes")
        seal_key = hashing.hkdf_sha256(store_key, salt=None, info=_SEAL_INFO, length=32)
        self._aead = aead.aes_gcm(seal_key)
        self._index_key = hashing.hkdf_sha256(store_key, salt=None, info=_INDEX_INFO, length=32)

    def index(self, kind: str, name: str) -> bytes:
        """The blind index of ``name`` among records of ``kind``."""
        return hashing.hmac_sha256(self._index_key, row_context(kind, name.encode()))

    def seal(self, context: bytes, value: bytes) -> bytes:
        nonce = random_bytes(aead.NONCE_LEN)
        return nonce + self._aead.seal(nonce, value, context)

    def open(self, context: bytes, sealed: bytes) -> bytes:
        """The value sealed for ``context``; :class:`ProfileError` if it was altered,
        truncated, moved from another row, or sealed under another key."""
        if len(sealed) < SEALED_OVERHEAD:
            raise ProfileError("a record of the local store is truncated")
        try:
            return self._aead.open(sealed[: aead.NONCE_LEN], sealed[aead.NONCE_LEN :], context)
        except DecryptionFailed as exc:
            raise ProfileError(
                "a record of the local store failed authentication (wrong key or tampering)"
            ) from exc

    def __repr__(self) -> str:
        return "Vault(<sealed>)"
