"""ML-KEM-1024 key encapsulation (FIPS 203)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.mlkem import (
    MLKEM1024PrivateKey,
    MLKEM1024PublicKey,
)

from sottovoce.crypto.errors import DecryptionFailed, InvalidKey

PUBLIC_KEY_LEN = 1568
CIPHERTEXT_LEN = 1568
SHARED_SECRET_LEN = 32
SEED_LEN = 64


class KemKeyPair:
    """An ML-KEM-1024 decapsulation key, stored as its 64-byte seed."""

    __slots__ = ("_key", "public")

    def __init__(self, key: MLKEM1024PrivateKey) -> None:
        self._key = key
        self.public: bytes = key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> KemKeyPair:
        return cls(MLKEM1024PrivateKey.generate())

    @classmethod
    def from_bytes(cls, seed: bytes) -> KemKeyPair:
        if len(seed) != SEED_LEN:
            raise InvalidKey(f"ML-KEM-1024 seed must be {SEED_LEN} bytes")
        return cls(MLKEM1024PrivateKey.from_seed_bytes(seed))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes_raw()

    def decapsulate(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) != CIPHERTEXT_LEN:
            raise DecryptionFailed(f"ML-KEM-1024 ciphertext must be {CIPHERTEXT_LEN} bytes")
        return self._key.decapsulate(ciphertext)

    def __repr__(self) -> str:
        return "KemKeyPair(<ML-KEM-1024>)"


def encapsulate(public: bytes) -> tuple[bytes, bytes]:
    """Return ``(ciphertext, shared_secret)`` for an ML-KEM-1024 public key."""
    if len(public) != PUBLIC_KEY_LEN:
        raise InvalidKey(f"ML-KEM-1024 public key must be {PUBLIC_KEY_LEN} bytes")
    try:
        key = MLKEM1024PublicKey.from_public_bytes(public)
    except ValueError as exc:
        raise InvalidKey("ML-KEM-1024 public key is malformed") from exc
    shared_secret, ciphertext = key.encapsulate()
    return ciphertext, shared_secret
