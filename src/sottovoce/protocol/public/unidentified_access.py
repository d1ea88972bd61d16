"""Unidentified-access keys: who may send an account sealed messages.

A person's profile key (32 random bytes) travels only inside their encrypted
messages, so exactly the people they write to hold it. From it anyone holding it
derives the 16-byte unidentified-access key (as in Signal's sealed sender, which
derives it from the profile key too), which the server checks before it queues a
sealed message. The server keeps only the key's SHA-256 digest.
"""

from __future__ import annotations

from sottovoce.crypto import hashing
from sottovoce.protocol.errors import DecodeError

PROFILE_KEY_LEN = 32
ACCESS_KEY_LEN = 16
_ACCESS_KEY_INFO = b"Sottovoce unidentified access key v1"


def unidentified_access_key(profile_key: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of the profile key under its own label: proves knowledge
    of the profile key without revealing it."""
    if len(profile_key) != PROFILE_KEY_LEN:
        raise DecodeError(f"a profile key is {PROFILE_KEY_LEN} bytes, got {len(profile_key)}")
    return hashing.hkdf_sha256(profile_key, salt=None, info=_ACCESS_KEY_INFO, length=ACCESS_KEY_LEN)


def access_key_digest(access_key: bytes) -> bytes:
    """What the server stores and compares: SHA-256 of the access key."""
    return hashing.sha256(access_key)
