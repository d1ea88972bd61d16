"""Hashes, HMAC, HKDF (RFC 5869) and constant-time comparison."""

from __future__ import annotations

import hmac as _stdlib_hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

_SHA256 = hashes.SHA256()
_SHA512 = hashes.SHA512()
SHA256_LEN = 32


def sha256(data: bytes) -> bytes:
    digest = hashes.Hash(_SHA256)
    digest.update(data)
    return digest.finalize()


class Sha256Stream:
    """SHA-256 over data that arrives in pieces (a file streamed in chunks)."""

    __slots__ = ("_digest",)

    def __init__(self) -> None:
        self._digest = hashes.Hash(_SHA256)

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def digest_so_far(self) -> bytes:
        """The digest of what was fed until now; the stream goes on (a checkpoint)."""
        return self._digest.copy().finalize()

    def finalize(self) -> bytes:
        return self._digest.finalize()


def sha512(data: bytes) -> bytes:
    digest = hashes.Hash(_SHA512)
    digest.update(data)
    return digest.finalize()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = HMAC(key, _SHA256)
    mac.update(data)
    return mac.finalize()


def hmac_sha256_pair(key: bytes, first: bytes, second: bytes) -> tuple[bytes, bytes]:
    """Two HMACs under one key, sharing the keyed context: pyca's per-key set-up is
    most of an HMAC's cost for short inputs (the Double Ratchet's KDF_CK needs both)."""
    mac_first = HMAC(key, _SHA256)
    mac_second = mac_first.copy()
    mac_first.update(first)
    mac_second.update(second)
    return mac_first.finalize(), mac_second.finalize()


def hmac_sha256_each(key: bytes, *messages: bytes) -> list[bytes]:
    """HMACs of several messages under one key, keyed once (as :func:`hmac_sha256_pair`):
    an MLS ratchet step derives a key, a nonce and the next secret from one secret. The
    last message is MACed on the keyed context itself, saving one copy."""
    if not messages:
        return []
    keyed = HMAC(key, _SHA256)
    macs = []
    for message in messages[:-1]:
        mac = keyed.copy()
        mac.update(message)
        macs.append(mac.finalize())
    keyed.update(messages[-1])
    macs.append(keyed.finalize())
    return macs


class HmacSha256Key:
    """HMAC-SHA256 keyed once for many messages: each MAC copies the keyed state, about
    a quarter of the cost of keying (MLS derives every message's sender-data key and
    nonce from one epoch secret, RFC 9420 §6.3.2). ``repr`` never shows the key."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        self._keyed = HMAC(key, _SHA256)

    def mac_each(self, *messages: bytes) -> list[bytes]:
        macs = []
        for message in messages:
            mac = self._keyed.copy()
            mac.update(message)
            macs.append(mac.finalize())
        return macs

    def __repr__(self) -> str:
        return "HmacSha256Key(…)"


def hmac_sha512(key: bytes, data: bytes) -> bytes:
    mac = HMAC(key, _SHA512)
    mac.update(data)
    return mac.finalize()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two MACs or digests without leaking where they differ."""
    return _stdlib_hmac.compare_digest(a, b)


def hkdf_sha256(ikm: bytes, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF-SHA-256 extract-then-expand (RFC 5869 §2)."""
    return HKDF(algorithm=_SHA256, length=length, salt=salt, info=info).derive(ikm)


def hkdf_sha512(ikm: bytes, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF-SHA-512 extract-then-expand (RFC 5869 §2)."""
    return HKDF(algorithm=_SHA512, length=length, salt=salt, info=info).derive(ikm)


def hkdf_extract_sha256(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2): PRK = HMAC-Hash(salt, IKM); empty salt means zeros."""
    return hmac_sha256(salt if salt else bytes(SHA256_LEN), ikm)


def hkdf_expand_sha256(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 §2.3)."""
    return HKDFExpand(algorithm=_SHA256, length=length, info=info).derive(prk)
