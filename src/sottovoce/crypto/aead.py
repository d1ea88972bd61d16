"""Authenticated encryption: AES-GCM (NIST SP 800-38D) and ChaCha20-Poly1305 (RFC 8439)."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sottovoce.crypto.errors import DecryptionFailed, InvalidKey

NONCE_LEN = 12
TAG_LEN = 16


class Aead:
    """A keyed AEAD. Callers own nonce uniqueness; ``repr`` never shows the key."""

    __slots__ = ("_cipher", "name")

    def __init__(self, cipher: AESGCM | ChaCha20Poly1305, name: str) -> None:
        self._cipher = cipher
        self.name = name

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes | None = None) -> bytes:
        return self._cipher.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, ciphertext: bytes, aad: bytes | None = None) -> bytes:
        if len(ciphertext) < TAG_LEN:
            raise DecryptionFailed(f"{self.name} ciphertext shorter than its {TAG_LEN}-byte tag")
        try:
            return self._cipher.decrypt(nonce, ciphertext, aad)
        except InvalidTag as exc:
            raise DecryptionFailed(f"{self.name} authentication failed") from exc

    def __repr__(self) -> str:
        return f"Aead({self.name})"


# AES-GCM's name by key length. MLS keys one AEAD per message (§6.3), so the name is
# looked up rather than formatted for every key.
_AES_GCM_NAMES = {16: "AES-128-GCM", 32: "AES-256-GCM"}


def aes_gcm(key: bytes) -> Aead:
    """AES-128-GCM or AES-256-GCM by key length."""
    name = _AES_GCM_NAMES.get(len(key))
    if name is None:
        raise InvalidKey("AES-GCM key must be 16 or 32 bytes")
    return Aead(AESGCM(key), name)


def chacha20_poly1305(key: bytes) -> Aead:
    if len(key) != 32:
        raise InvalidKey("ChaCha20-Poly1305 key must be 32 bytes")
    return Aead(ChaCha20Poly1305(key), "ChaCha20-Poly1305")
