"""PQXDH key agreement, as in Signal's PQXDH specification.

Parameters (§2.1): curve = CURVE25519 (X25519 for DH), hash = SHA-256,
pqkem = ML-KEM-1024 (the FIPS 203 standard form of CRYSTALS-Kyber-1024),
info = ``INFO`` below. EncodeEC/EncodeKEM are the raw public keys plus the
key-type byte of ``protocol.public.prekeys.PrekeyKind`` inside the signed message.

Both sides compute (§3.3, §3.4)::

    DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)
    DH4 = DH(EK_A, OPK_B)   (only when a one-time prekey was used)
    (CT, SS) = PQKEM-ENC(PQPK_B)
    SK = KDF(DH1 || DH2 || DH3 [|| DH4] || SS)

with KDF as in §2.2: HKDF-SHA-256 over F || KM, where F is 32 0xFF bytes
(domain separation from XEdDSA's first block), salt 32 zero bytes, info INFO.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import dh, hashing, kem
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import KemPreKey, OneTimePreKey, SignedPreKey
from sottovoce.protocol.public.identity import PublicIdentity

# §2.1: an ASCII string naming the application, at least 8 bytes long. Named
# after the parameter choice, as Signal's own info string is.
INFO = b"Sottovoce_CURVE25519_SHA-256_ML-KEM-1024"
# §2.2: F is 32 0xFF bytes when curve is X25519.
_F = b"\xff" * 32
# §2.2: the HKDF salt is zero bytes, as many as the hash output.
_SALT = bytes(hashing.SHA256_LEN)
SHARED_SECRET_LEN = 32


def kdf(key_material: bytes) -> bytes:
    """§2.2 KDF(KM): 32 bytes of HKDF-SHA-256(IKM = F || KM, salt = 0^32, info = INFO)."""
    return hashing.hkdf_sha256(_F + key_material, salt=_SALT, info=INFO, length=SHARED_SECRET_LEN)


def associated_data(initiator: PublicIdentity, responder: PublicIdentity) -> bytes:
    """§3.3: AD = Encode(IK_A) || Encode(IK_B); both encodings are fixed-length."""
    return initiator.to_bytes() + responder.to_bytes()


@dataclass(frozen=True, slots=True)
class InitiatorAgreement:
    """What Alice keeps from §3.3: SK, and EK_A and CT to send. EK_A's private half is gone."""

    shared_secret: bytes
    base_key: bytes
    kem_ciphertext: bytes

    def __repr__(self) -> str:
        return f"InitiatorAgreement(base_key={self.base_key.hex()[:16]}…)"


def _exchange(key_pair: dh.DHKeyPair, public: bytes, what: str) -> bytes:
    try:
        return key_pair.exchange(public)
    except CryptoError as exc:
        raise DecodeError(f"{what} is not a usable X25519 public key") from exc


def initiate(own: IdentityKeyPair, bundle: PreKeyBundle) -> InitiatorAgreement:
    """§3.3 for Alice. The bundle must already be verified (``PreKeyBundle.verify``)."""
    ephemeral = dh.DHKeyPair.generate()
    parts = [
        _exchange(own.dh_key, bundle.signed_prekey, "signed prekey"),
        _exchange(ephemeral, bundle.identity.dh_public, "identity key"),
        _exchange(ephemeral, bundle.signed_prekey, "signed prekey"),
    ]
    if bundle.one_time_prekey is not None:
        parts.append(_exchange(ephemeral, bundle.one_time_prekey, "one-time prekey"))
    try:
        kem_ciphertext, kem_secret = kem.encapsulate(bundle.kem_prekey)
    except CryptoError as exc:
        raise DecodeError("KEM prekey is not a usable ML-KEM-1024 public key") from exc
    parts.append(kem_secret)
    return InitiatorAgreement(kdf(b"".join(parts)), ephemeral.public, kem_ciphertext)


def respond(
    own: IdentityKeyPair,
    initiator: PublicIdentity,
    base_key: bytes,
    signed_prekey: SignedPreKey,
    one_time_prekey: OneTimePreKey | None,
    kem_prekey: KemPreKey,
    kem_ciphertext: bytes,
) -> bytes:
    """§3.4 for Bob: the same SK from IK_A, EK_A, CT and his private prekeys."""
    parts = [
        _exchange(signed_prekey.key_pair, initiator.dh_public, "initiator identity key"),
        _exchange(own.dh_key, base_key, "base key"),
        _exchange(signed_prekey.key_pair, base_key, "base key"),
    ]
    if one_time_prekey is not None:
        parts.append(_exchange(one_time_prekey.key_pair, base_key, "base key"))
    try:
        parts.append(kem_prekey.key_pair.decapsulate(kem_ciphertext))
    except CryptoError as exc:
        raise DecodeError("KEM ciphertext is malformed") from exc
    return kdf(b"".join(parts))
