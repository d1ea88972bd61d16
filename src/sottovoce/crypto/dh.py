"""X25519 Diffie-Hellman (RFC 7748)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from sottovoce.crypto.errors import InvalidKey

PUBLIC_KEY_LEN = 32
PRIVATE_KEY_LEN = 32


def parse_public(public: bytes) -> X25519PublicKey:
    if len(public) != PUBLIC_KEY_LEN:
        raise InvalidKey(f"X25519 public key must be {PUBLIC_KEY_LEN} bytes")
    return X25519PublicKey.from_public_bytes(public)


class DHKeyPair:
    """An X25519 key pair. ``repr`` never shows the secret."""

    __slots__ = ("_key", "public")

    def __init__(self, key: X25519PrivateKey) -> None:
        self._key = key
        self.public: bytes = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def generate(cls) -> DHKeyPair:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, private: bytes) -> DHKeyPair:
        if len(private) != PRIVATE_KEY_LEN:
            raise InvalidKey(f"X25519 private key must be {PRIVATE_KEY_LEN} bytes")
        return cls(X25519PrivateKey.from_private_bytes(private))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def exchange(self, peer_public: bytes) -> bytes:
        """X25519(self, peer); rejects the all-zero output of small-order points."""
        try:
            return self._key.exchange(parse_public(peer_public))
        except ValueError as exc:
            raise InvalidKey("X25519 exchange with a small-order point") from exc

    def __repr__(self) -> str:
        return f"DHKeyPair(public={self.public.hex()[:16]}…)"
