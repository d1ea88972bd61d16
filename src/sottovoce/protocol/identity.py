"""The private side of a device identity: the keys behind a :class:`PublicIdentity`.

PQXDH §2.4 gives each party one identity key IK used both for signatures
(XEdDSA) and for Diffie-Hellman. pyca/cryptography offers no XEdDSA, so the
identity is an Ed25519 signing key plus an X25519 agreement key, bound by an
Ed25519 signature over the X25519 public key (see ``protocol.public.identity``).
"""

from __future__ import annotations

from sottovoce.crypto import dh, signing
from sottovoce.crypto.errors import InvalidKey
from sottovoce.protocol.encoding import Reader, check_version
from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.public.identity import PublicIdentity, binding_message

_STORAGE_VERSION = 1
IDENTITY_KEY_PAIR_LEN = 1 + signing.PRIVATE_KEY_LEN + dh.PRIVATE_KEY_LEN


class IdentityKeyPair:
    """A device's long-term keys. ``repr`` shows only the public signing key."""

    __slots__ = ("dh_key", "public", "signing_key")

    def __init__(self, signing_key: signing.SigningKey, dh_key: dh.DHKeyPair) -> None:
        self.signing_key = signing_key
        self.dh_key = dh_key
        # Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so the binding
        # is the same every time it is recomputed from the stored keys.
        self.public = PublicIdentity(
            sign_public=signing_key.public,
            dh_public=dh_key.public,
            binding_signature=signing_key.sign(binding_message(dh_key.public)),
        )

    @classmethod
    def generate(cls) -> IdentityKeyPair:
        return cls(signing.SigningKey.generate(), dh.DHKeyPair.generate())

    def sign(self, message: bytes) -> bytes:
        """Ed25519-sign ``message`` with the identity key (prekeys, device lists)."""
        return self.signing_key.sign(message)

    def to_bytes(self) -> bytes:
        """``u8 version | Ed25519 private (32) | X25519 private (32)``: keep it secret."""
        return (
            bytes([_STORAGE_VERSION])
            + self.signing_key.private_bytes()
            + self.dh_key.private_bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> IdentityKeyPair:
        if len(data) != IDENTITY_KEY_PAIR_LEN:
            raise DecodeError(
                f"identity key pair must be {IDENTITY_KEY_PAIR_LEN} bytes, got {len(data)}"
            )
        reader = Reader(data, "identity key pair")
        check_version(reader.u8("version"), _STORAGE_VERSION, "identity key pair")
        try:
            signing_key = signing.SigningKey.from_bytes(
                reader.fixed(signing.PRIVATE_KEY_LEN, "signing key")
            )
            dh_key = dh.DHKeyPair.from_bytes(reader.fixed(dh.PRIVATE_KEY_LEN, "agreement key"))
        except InvalidKey as exc:
            raise DecodeError("identity key pair holds an invalid key") from exc
        reader.finish()
        return cls(signing_key, dh_key)

    def __repr__(self) -> str:
        return f"IdentityKeyPair(sign_public={self.public.sign_public.hex()[:16]}…)"
