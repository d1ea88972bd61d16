"""Argon2id password hashing (RFC 9106) for keys derived from passphrases."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from sottovoce.crypto.errors import InvalidKey

SALT_LEN = 16


@dataclass(frozen=True)
class Argon2Parameters:
    """Cost parameters; the defaults follow RFC 9106 §4's second recommended option
    (64 MiB, 3 passes, 4 lanes), fit for an interactive unlock on a laptop."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4


def argon2id(
    passphrase: bytes, salt: bytes, length: int = 32, params: Argon2Parameters | None = None
) -> bytes:
    if len(salt) < SALT_LEN:
        raise InvalidKey(f"Argon2id salt must be at least {SALT_LEN} bytes")
    p = params or Argon2Parameters()
    kdf = Argon2id(
        salt=salt,
        length=length,
        iterations=p.iterations,
        lanes=p.lanes,
        memory_cost=p.memory_kib,
    )
    return kdf.derive(passphrase)
