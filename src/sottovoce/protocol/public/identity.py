"""A device's published identity: an Ed25519 signing key bound to an X25519 agreement key.

Signal's specifications use one Curve25519 key for both jobs through XEdDSA
(PQXDH §2.2, X3DH §2.3). pyca/cryptography has no XEdDSA, so a Sottovoce identity
is a pair: the Ed25519 key signs (prekeys, device lists, requests) and signs a
binding over the X25519 key, which does the Diffie-Hellman. Anyone who trusts the
Ed25519 key therefore trusts the X25519 key exactly as far as XEdDSA would let
them trust a converted key; the safety number covers both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.errors import DecodeError, VerificationError

IDENTITY_VERSION = 1
# version byte + Ed25519 public + X25519 public + Ed25519 signature
PUBLIC_IDENTITY_LEN = 1 + 32 + 32 + 64
_BINDING_CONTEXT = b"Sottovoce identity binding v1\x00"


def binding_message(dh_public: bytes) -> bytes:
    """What the Ed25519 key signs to claim the X25519 key."""
    return _BINDING_CONTEXT + dh_public


@dataclass(frozen=True, slots=True)
class PublicIdentity:
    sign_public: bytes
    dh_public: bytes
    binding_signature: bytes

    def to_bytes(self) -> bytes:
        return (
            bytes([IDENTITY_VERSION]) + self.sign_public + self.dh_public + self.binding_signature
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicIdentity:
        """Parse and verify the binding; a bad binding is a :class:`VerificationError`."""
        if len(data) != PUBLIC_IDENTITY_LEN:
            raise DecodeError(
                f"public identity must be {PUBLIC_IDENTITY_LEN} bytes, got {len(data)}"
            )
        if data[0] != IDENTITY_VERSION:
            raise DecodeError(f"unknown public identity version {data[0]}")
        identity = cls(data[1:33], data[33:65], data[65:129])
        identity.verify_binding()
        return identity

    def verify_binding(self) -> None:
        try:
            signing.verify(
                self.sign_public, self.binding_signature, binding_message(self.dh_public)
            )
        except CryptoError as exc:
            raise VerificationError("identity binding signature does not verify") from exc

    def verify(self, signature: bytes, message: bytes) -> None:
        """Verify a signature made by this identity's Ed25519 key."""
        try:
            signing.verify(self.sign_public, signature, message)
        except CryptoError as exc:
            raise VerificationError("signature by identity key does not verify") from exc
