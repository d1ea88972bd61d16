"""Hybrid Public Key Encryption, base mode (RFC 9180) over X25519 and HKDF-SHA256.

One KEM, DHKEM(X25519, HKDF-SHA256) (§4.1, §7.1), one KDF, HKDF-SHA256 (§7.2), and
three AEADs (§7.3): AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305. That covers MLS
cipher suites 1-3 (RFC 9420 §17.1) and sealed sender. Only the base mode (§5.1.1)
exists here: MLS and sealed sender authenticate senders by signatures, not by the
PSK or Auth modes.

Everything is built from the ``hashing``, ``dh`` and ``aead`` wrappers, so this module
never touches pyca itself. The sender's ephemeral key can be injected (``ephemeral=``)
only so that known-answer tests can reproduce the RFC's Appendix A; real callers
leave it out and get a fresh key per encapsulation.
"""

from __future__ import annotations

import enum

from sottovoce.crypto import aead, dh, hashing
from sottovoce.crypto.errors import CryptoError, InvalidKey

# §4: every HPKE label starts with this version string.
_VERSION_LABEL = b"HPKE-v1"
# §5 Table 1: the base mode's identifier.
_MODE_BASE = 0x00

# §7.1 Table 2: DHKEM(X25519, HKDF-SHA256).
KEM_ID = 0x0020
NSECRET = 32  # length of the KEM shared secret
NENC = dh.PUBLIC_KEY_LEN  # length of an encapsulated key: the ephemeral public key
NPK = dh.PUBLIC_KEY_LEN
NSK = dh.PRIVATE_KEY_LEN
# §7.2 Table 3: HKDF-SHA256.
KDF_ID = 0x0001
NH = hashing.SHA256_LEN
# §4: HKDF-Expand (RFC 5869 §2.3) yields at most 255 blocks, which bounds every
# LabeledExpand, and so the length an exporter may be asked for (§5.3).
MAX_EXPORT_LEN = 255 * NH

_KEM_SUITE_ID = b"KEM" + KEM_ID.to_bytes(2, "big")


class MessageLimitReached(CryptoError):
    """§5.2: a context's sequence number would wrap, so its nonces would repeat."""


class AeadId(enum.IntEnum):
    """§7.3 Table 5: the AEAD identifiers this module implements."""

    AES_128_GCM = 0x0001
    AES_256_GCM = 0x0002
    CHACHA20_POLY1305 = 0x0003

    @property
    def key_len(self) -> int:
        """Nk: the AEAD key length."""
        return 16 if self is AeadId.AES_128_GCM else 32

    @property
    def nonce_len(self) -> int:
        """Nn: the AEAD nonce length (12 for all three)."""
        return aead.NONCE_LEN

    @property
    def kind(self) -> aead.AeadKind:
        """The AEAD itself, which checks and takes keys of exactly Nk bytes."""
        return _AEAD_KINDS[self]

    def keyed(self, key: bytes) -> aead.Aead:
        return _AEAD_KINDS[self](key)


_AEAD_KINDS = {
    AeadId.AES_128_GCM: aead.AES_128_GCM,
    AeadId.AES_256_GCM: aead.AES_256_GCM,
    AeadId.CHACHA20_POLY1305: aead.CHACHA20_POLY1305,
}


# --- §4 labeled KDF calls ----------------------------------------------------------------


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    """§4 LabeledExtract: Extract(salt, "HPKE-v1" || suite_id || label || ikm)."""
    return hashing.hkdf_extract_sha256(salt, _VERSION_LABEL + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    """§4 LabeledExpand: Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)."""
    labeled_info = length.to_bytes(2, "big") + _VERSION_LABEL + suite_id + label + info
    return hashing.hkdf_expand_sha256(prk, labeled_info, length)


# --- §4.1 DHKEM(X25519, HKDF-SHA256) ---------------------------------------------------


def derive_key_pair(ikm: bytes) -> dh.DHKeyPair:
    """§7.1.3 DeriveKeyPair for X25519: sk = LabeledExpand(dkp_prk, "sk", "", Nsk).

    MLS derives every tree key pair this way from a path secret, so both sides of a
    group reach the same key from the same secret.
    """
    if len(ikm) < NSK:
        # §7.1.3: ikm SHOULD be at least Nsk bytes; shorter input cannot carry the
        # entropy of a private key, so it is refused rather than stretched.
        raise InvalidKey(f"DeriveKeyPair input must be at least {NSK} bytes, got {len(ikm)}")
    dkp_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    return dh.DHKeyPair.from_bytes(_labeled_expand(_KEM_SUITE_ID, dkp_prk, b"sk", b"", NSK))


def generate_key_pair() -> dh.DHKeyPair:
    """§4 GenerateKeyPair: a fresh X25519 key pair from the OS CSPRNG."""
    return dh.DHKeyPair.generate()


def _extract_and_expand(dh_output: bytes, kem_context: bytes) -> bytes:
    """§4.1 ExtractAndExpand: the KEM shared secret from the DH output and both public keys."""
    eae_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh_output)
    return _labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, NSECRET)


def encap(recipient_public: bytes, *, ephemeral: dh.DHKeyPair | None = None) -> tuple[bytes, bytes]:
    """§4.1 Encap: return ``(shared_secret, enc)``.

    ``dh.DHKeyPair.exchange`` rejects an all-zero X25519 output, the validation §7.1.4
    requires of both sides.
    """
    if len(recipient_public) != NPK:
        raise InvalidKey(f"HPKE recipient public key must be {NPK} bytes")
    ephemeral = ephemeral if ephemeral is not None else generate_key_pair()
    dh_output = ephemeral.exchange(recipient_public)
    enc = ephemeral.public
    return _extract_and_expand(dh_output, enc + recipient_public), enc


def decap(enc: bytes, recipient: dh.DHKeyPair) -> bytes:
    """§4.1 Decap: the shared secret for an encapsulated key ``enc``."""
    if len(enc) != NENC:
        raise InvalidKey(f"HPKE encapsulated key must be {NENC} bytes, got {len(enc)}")
    dh_output = recipient.exchange(enc)
    return _extract_and_expand(dh_output, enc + recipient.public)


# --- §5 contexts -----------------------------------------------------------------------


class _Context:
    """§5.1 encryption context: key, base nonce, sequence number and exporter secret.

    ``repr`` shows only the suite and sequence number, never a secret.
    """

    __slots__ = ("_aead", "_base_nonce", "_exporter_secret", "_seq", "_suite_id", "aead_id")

    def __init__(self, aead_id: AeadId, suite_id: bytes, shared_secret: bytes, info: bytes) -> None:
        # §5.1 KeySchedule with mode_base: psk and psk_id are empty.
        psk_id_hash = _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
        info_hash = _labeled_extract(suite_id, b"", b"info_hash", info)
        context = bytes([_MODE_BASE]) + psk_id_hash + info_hash
        secret = _labeled_extract(suite_id, shared_secret, b"secret", b"")
        key = _labeled_expand(suite_id, secret, b"key", context, aead_id.key_len)
        self.aead_id = aead_id
        self._suite_id = suite_id
        self._aead = aead_id.keyed(key)
        self._base_nonce = _labeled_expand(
            suite_id, secret, b"base_nonce", context, aead_id.nonce_len
        )
        self._exporter_secret = _labeled_expand(suite_id, secret, b"exp", context, NH)
        self._seq = 0

    @property
    def sequence_number(self) -> int:
        return self._seq

    def _next_nonce(self) -> bytes:
        """§5.2 ComputeNonce, refusing (IncrementSeq) a sequence number that would wrap."""
        if self._seq >= (1 << (8 * self.aead_id.nonce_len)) - 1:
            raise MessageLimitReached("HPKE context has used every nonce of its sequence")
        seq_bytes = self._seq.to_bytes(self.aead_id.nonce_len, "big")
        return bytes(a ^ b for a, b in zip(self._base_nonce, seq_bytes, strict=True))

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """§5.3 Export: LabeledExpand(exporter_secret, "sec", exporter_context, L)."""
        if not 0 < length <= MAX_EXPORT_LEN:
            raise ValueError(f"HPKE export length must be 1..{MAX_EXPORT_LEN}, got {length}")
        return _labeled_expand(
            self._suite_id, self._exporter_secret, b"sec", exporter_context, length
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.aead_id.name}, seq={self._seq})"


class SenderContext(_Context):
    """§5.2 the sender's context: seals messages in sequence."""

    __slots__ = ()

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        ciphertext = self._aead.seal(self._next_nonce(), plaintext, aad)
        self._seq += 1
        return ciphertext


class RecipientContext(_Context):
    """§5.2 the recipient's context: opens messages in the order they were sealed."""

    __slots__ = ()

    def open(self, aad: bytes, ciphertext: bytes) -> bytes:
        """Open the next message; the sequence advances only when it authenticates."""
        plaintext = self._aead.open(self._next_nonce(), ciphertext, aad)
        self._seq += 1
        return plaintext


def _suite_id(aead_id: AeadId) -> bytes:
    """§5.1: suite_id = "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)."""
    return (
        b"HPKE"
        + KEM_ID.to_bytes(2, "big")
        + KDF_ID.to_bytes(2, "big")
        + int(aead_id).to_bytes(2, "big")
    )


def setup_base_sender(
    aead_id: AeadId,
    recipient_public: bytes,
    info: bytes,
    *,
    ephemeral: dh.DHKeyPair | None = None,
) -> tuple[bytes, SenderContext]:
    """§5.1.1 SetupBaseS: return ``(enc, context)``."""
    shared_secret, enc = encap(recipient_public, ephemeral=ephemeral)
    return enc, SenderContext(aead_id, _suite_id(aead_id), shared_secret, info)


def setup_base_recipient(
    aead_id: AeadId, enc: bytes, recipient: dh.DHKeyPair, info: bytes
) -> RecipientContext:
    """§5.1.1 SetupBaseR."""
    return RecipientContext(aead_id, _suite_id(aead_id), decap(enc, recipient), info)


def seal_base(
    aead_id: AeadId,
    recipient_public: bytes,
    info: bytes,
    aad: bytes,
    plaintext: bytes,
    *,
    ephemeral: dh.DHKeyPair | None = None,
) -> tuple[bytes, bytes]:
    """§6.1 single-shot SealBase: return ``(enc, ciphertext)``."""
    enc, context = setup_base_sender(aead_id, recipient_public, info, ephemeral=ephemeral)
    return enc, context.seal(aad, plaintext)


def open_base(
    aead_id: AeadId, enc: bytes, recipient: dh.DHKeyPair, info: bytes, aad: bytes, ciphertext: bytes
) -> bytes:
    """§6.1 single-shot OpenBase; raises ``DecryptionFailed`` or ``InvalidKey``."""
    return setup_base_recipient(aead_id, enc, recipient, info).open(aad, ciphertext)
