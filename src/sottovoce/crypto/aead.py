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


class AeadKind:
    """One AEAD algorithm at one key length; ``kind(key)`` checks the key and keys it.

    One call rather than a dispatch per use: MLS keys a fresh AEAD for every message
    it seals or opens (RFC 9420 §6.3), twice.
    """

    __slots__ = ("_cipher", "key_len", "name")

    def __init__(
        self, cipher: type[AESGCM] | type[ChaCha20Poly1305], key_len: int, name: str
    ) -> None:
        self._cipher = cipher
        self.key_len = key_len
        self.name = name

    def __call__(self, key: bytes) -> Aead:
        if len(key) != self.key_len:
            raise InvalidKey(f"{self.name} key must be {self.key_len} bytes")
        return Aead(self._cipher(key), self.name)

    def __repr__(self) -> str:
        return f"AeadKind({self.name})"


AES_128_GCM = AeadKind(AESGCM, 16, "AES-128-GCM")
AES_256_GCM = AeadKind(AESGCM, 32, "AES-256-GCM")
CHACHA20_POLY1305 = AeadKind(ChaCha20Poly1305, 32, "ChaCha20-Poly1305")


_AES_GCM_BY_KEY_LEN = {16: AES_128_GCM, 32: AES_256_GCM}


def aes_gcm(key: bytes) -> Aead:
    """AES-128-GCM or AES-256-GCM by key length."""
    kind = _AES_GCM_BY_KEY_LEN.get(len(key))
    if kind is None:
        raise InvalidKey("AES-GCM key must be 16 or 32 bytes")
    return kind(key)


def chacha20_poly1305(key: bytes) -> Aead:
    return CHACHA20_POLY1305(key)
