"""Ed25519 signatures (RFC 8032)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature as _PycaInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sottovoce.crypto.errors import InvalidKey, InvalidSignature

PUBLIC_KEY_LEN = 32
PRIVATE_KEY_LEN = 32
SIGNATURE_LEN = 64


class SigningKey:
    """An Ed25519 private key. ``repr`` never shows the secret."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        # The raw-bytes accessors, not public_bytes(Encoding.Raw, ...): the same bytes,
        # without pyca's serialization package (SSH, RSA, DSA...), ~1.5 MiB a server
        # node would carry for nothing (docs/performance.md, memory).
        self.public: bytes = key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, private: bytes) -> SigningKey:
        if len(private) != PRIVATE_KEY_LEN:
            raise InvalidKey(f"Ed25519 private key must be {PRIVATE_KEY_LEN} bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(private))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public.hex()[:16]}…)"


class VerifyingKey:
    """A parsed Ed25519 public key, reusable for many verifications."""

    __slots__ = ("_key", "public")

    def __init__(self, public: bytes) -> None:
        if len(public) != PUBLIC_KEY_LEN:
            raise InvalidKey(f"Ed25519 public key must be {PUBLIC_KEY_LEN} bytes")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public)
        except ValueError as exc:
            raise InvalidKey("Ed25519 public key is not a valid point") from exc
        self.public = public

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise :class:`InvalidSignature` unless ``signature`` is valid for ``message``."""
        if len(signature) != SIGNATURE_LEN:
            raise InvalidSignature(f"Ed25519 signature must be {SIGNATURE_LEN} bytes")
        try:
            self._key.verify(signature, message)
        except _PycaInvalidSignature as exc:
            raise InvalidSignature("Ed25519 signature does not verify") from exc


def verify(public: bytes, signature: bytes, message: bytes) -> None:
    """Verify an Ed25519 signature; raise :class:`InvalidSignature` or :class:`InvalidKey`."""
    VerifyingKey(public).verify(signature, message)
