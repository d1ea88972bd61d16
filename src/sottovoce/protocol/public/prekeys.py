"""Prekey signatures, checkable by anyone holding the device's public identity.

PQXDH §2.5 / §3.2: Bob signs Encode(SPK) and each Encode(PQPK) with his identity
key; Alice verifies before use. Here Encode is a one-byte key type followed by the
raw public key (PQXDH §2.3 "EncodeEC"/"EncodeKEM" describe the same shape), and the
key id is signed too so a server cannot relabel keys.
"""

from __future__ import annotations

import enum
import struct

from sottovoce.protocol.public.identity import PublicIdentity

_CONTEXT = b"Sottovoce prekey v1\x00"


class PrekeyKind(enum.IntEnum):
    """The key-type byte of Encode(); doubles as domain separation between kinds."""

    SIGNED_EC = 1  # X25519 signed prekey (SPK)
    KEM_ONE_TIME = 2  # ML-KEM-1024 one-time prekey (OPQK)
    KEM_LAST_RESORT = 3  # ML-KEM-1024 last-resort prekey (PQSPK)


def prekey_signature_message(kind: PrekeyKind, key_id: int, public: bytes) -> bytes:
    return _CONTEXT + struct.pack(">BI", kind, key_id) + public


def verify_prekey_signature(
    identity: PublicIdentity, kind: PrekeyKind, key_id: int, public: bytes, signature: bytes
) -> None:
    """Raise ``VerificationError`` unless ``identity`` signed this prekey."""
    identity.verify(signature, prekey_signature_message(kind, key_id, public))


def kem_prekey_kind(last_resort: bool) -> PrekeyKind:
    """The signature domain of an ML-KEM prekey: last-resort (PQSPK) or one-time (PQOPK)."""
    return PrekeyKind.KEM_LAST_RESORT if last_resort else PrekeyKind.KEM_ONE_TIME
