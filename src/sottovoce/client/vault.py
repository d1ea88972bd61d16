"""Encryption of the local store's records, so a stolen profile reveals nothing.

Every value is sealed with AES-256-GCM under a key derived from the store key,
with a fresh random 96-bit nonce (2^32 writes per key keep the collision chance
below 2^-32, far beyond a person's lifetime of messages) and the record's table
and look-up key as associated data, so rows cannot be swapped or moved. Look-up
keys are HMAC-SHA-256 "blind indexes": equality search works, names do not show.
"""

from __future__ import annotations

from sottovoce.client.errors import ProfileError
from sottovoce.crypto import aead, hashing
from sottovoce.crypto.errors import DecryptionFailed
from sottovoce.crypto.random import random_bytes

STORE_KEY_LEN = 32


class Vault:
    __slots__ = ("_aead", "_index_key")

    def __init__(self, store_key: bytes) -> None:
        if len(store_key) != STORE_KEY_LEN:
            raise ProfileError("the store key has the wrong length")
        self._aead = aead.aes_gcm(
            hashing.hkdf_sha256(store_key, salt=None, info=b"Sottovoce store seal", length=32)
        )
        self._index_key = hashing.hkdf_sha256(
            store_key, salt=None, info=b"Sottovoce store index", length=32
        )

    def index(self, kind: str, name: str) -> bytes:
        return hashing.hmac_sha256(self._index_key, kind.encode() + b"\x00" + name.encode())

    def seal(self, kind: str, lookup: bytes, value: bytes) -> bytes:
        nonce = random_bytes(aead.NONCE_LEN)
        return nonce + self._aead.seal(nonce, value, kind.encode() + b"\x00" + lookup)

    def open(self, kind: str, lookup: bytes, sealed: bytes) -> bytes:
        try:
            return self._aead.open(
                sealed[: aead.NONCE_LEN], sealed[aead.NONCE_LEN :], kind.encode() + b"\x00" + lookup
            )
        except DecryptionFailed as exc:
            raise ProfileError(
                "a record of the local store failed authentication (wrong key or tampering)"
            ) from exc

    def __repr__(self) -> str:
        return "Vault(<sealed>)"
