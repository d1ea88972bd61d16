"""MLS cipher suites 1 and 3 and the labeled operations built on them (RFC 9420 §5).

A :class:`CipherSuite` bundles the suite's primitives (§5.1, §17.1): SHA-256 as hash,
HMAC-SHA256 as MAC, HKDF-SHA256 as KDF, DHKEM(X25519) HPKE, an AEAD and Ed25519.
Everything the rest of the engine derives goes through the labeled functions here,
so every use of a key is bound to a distinct "MLS 1.0 " label (§5.1.2, §5.1.3, §8).
Failures of the underlying wrappers surface as :class:`CryptoFailure` or
:class:`ValidationError`, never as a crypto-layer exception.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from sottovoce.crypto import aead, dh, hashing, hpke, signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.mls.codec import encode_vector
from sottovoce.mls.errors import CryptoFailure, ValidationError

# §5.1.2, §5.1.3, §8: every label is prefixed with the protocol version string.
LABEL_PREFIX = b"MLS 1.0 "

# §5.2: the labels of the three reference kinds.
KEY_PACKAGE_REF_LABEL = b"MLS 1.0 KeyPackage Reference"
LEAF_NODE_REF_LABEL = b"MLS 1.0 Leaf Node Reference"
PROPOSAL_REF_LABEL = b"MLS 1.0 Proposal Reference"

# §8: KDFLabel.length is a uint16.
MAX_EXPAND_LEN = 0xFFFF


class CipherSuiteId(enum.IntEnum):
    """§17.1 the registered suites this engine implements."""

    MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 = 0x0001
    MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 = 0x0003


# Distinct (label, length) prefixes of KDFLabel kept encoded. The RFC's own labels
# number about thirty; the rest of the room absorbs exporter labels an application
# chooses, while bounding what a caller passing ever-new labels can make us keep.
_KDF_LABEL_CACHE_SIZE = 256

# RFC 5869 §2.3: block N of HKDF-Expand is HMAC(PRK, T(N-1) || info || N).
_FIRST_BLOCK = b"\x01"


@functools.lru_cache(maxsize=_KDF_LABEL_CACHE_SIZE)
def _kdf_label_prefix(label: str | bytes, length: int) -> bytes:
    """§8 KDFLabel up to its context: ``uint16 length`` then ``label<V>``."""
    return length.to_bytes(2, "big") + _labeled(label)


@functools.lru_cache(maxsize=_KDF_LABEL_CACHE_SIZE)
def _labeled(label: str | bytes) -> bytes:
    """``opaque label<V> = "MLS 1.0 " + Label``: RFC labels are text, exporter labels bytes.

    Kept encoded: every message is signed and verified with a label (§5.1.2)."""
    raw = label.encode("ascii") if isinstance(label, str) else label
    return encode_vector(LABEL_PREFIX + raw)


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One MLS cipher suite. Stateless: every method is a pure function of its inputs."""

    id: CipherSuiteId
    hpke_aead: hpke.AeadId
    # §5.1: Nk and Nn, the AEAD key and nonce lengths (fields, not properties: the
    # per-message derivations read them several times per message).
    aead_key_len: int
    aead_nonce_len: int
    # The AEAD, held directly: every message keys it twice (§6.3).
    aead_kind: aead.AeadKind

    # §5.1: Nh is the hash (and KDF) output length.
    hash_len: int = hashing.SHA256_LEN
    signature_public_len: int = signing.PUBLIC_KEY_LEN
    hpke_public_len: int = hpke.NPK

    @property
    def name(self) -> str:
        return self.id.name

    # --- hash, MAC, KDF (§5.1) ---------------------------------------------------------

    def hash(self, data: bytes) -> bytes:
        return hashing.sha256(data)

    def mac(self, key: bytes, data: bytes) -> bytes:
        """The suite's MAC: HMAC-SHA256 (§5.1; confirmation and membership tags)."""
        return hashing.hmac_sha256(key, data)

    def verify_mac(self, key: bytes, data: bytes, tag: bytes, what: str) -> None:
        """Recompute a MAC and compare it in constant time; ``what`` names the tag and rule."""
        if not hashing.constant_time_equal(self.mac(key, data), tag):
            raise CryptoFailure(f"{what} does not verify")

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        """KDF.Extract (RFC 5869 §2.2); an empty salt is Nh zero bytes."""
        return hashing.hkdf_extract_sha256(salt, ikm)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        """KDF.Expand (RFC 5869 §2.3).

        Nearly every expansion in MLS fits in one block, T(1) = HMAC(PRK, info || 0x01);
        computing that block directly halves the cost of the per-message ratchets.
        """
        if length <= self.hash_len:
            return hashing.hmac_sha256(prk, info + _FIRST_BLOCK)[:length]
        return hashing.hkdf_expand_sha256(prk, info, length)

    def expand_with_label(
        self, secret: bytes, label: str | bytes, context: bytes, length: int
    ) -> bytes:
        """§8 ExpandWithLabel: Expand(secret, KDFLabel{length, "MLS 1.0 " + label, context})."""
        if not 0 < length <= min(MAX_EXPAND_LEN, 255 * self.hash_len):
            raise ValueError(f"ExpandWithLabel length out of range: {length}")
        kdf_label = _kdf_label_prefix(label, length) + encode_vector(context)
        return self.expand(secret, kdf_label, length)

    def keyed_kdf(self, secret: bytes) -> hashing.HmacSha256Key:
        """``secret`` keyed once as a PRK, for a secret that expands many contexts."""
        return hashing.HmacSha256Key(secret)

    def expand_key_and_nonce(
        self,
        secret: bytes | hashing.HmacSha256Key,
        context: bytes,
        key_label: str,
        nonce_label: str,
    ) -> tuple[bytes, bytes]:
        """ExpandWithLabel of an AEAD key (Nk) and nonce (Nn) from one secret and context.

        Every per-message derivation (§6.3.2 sender data, §9.1 ratchet keys) takes this
        shape; both one-block expansions share the HMAC keyed with ``secret`` (which
        may come keyed already, from :meth:`keyed_kdf`).
        """
        key_prefix, nonce_prefix = _key_and_nonce_prefixes(
            key_label, nonce_label, self.aead_key_len, self.aead_nonce_len
        )
        tail = encode_vector(context) + _FIRST_BLOCK
        if isinstance(secret, bytes):
            key, nonce = hashing.hmac_sha256_pair(secret, key_prefix + tail, nonce_prefix + tail)
        else:
            key, nonce = secret.mac_each(key_prefix + tail, nonce_prefix + tail)
        return key[: self.aead_key_len], nonce[: self.aead_nonce_len]

    def derive_ratchet_generation(
        self, secret: bytes, generation: int
    ) -> tuple[bytes, bytes, bytes]:
        """§9.1: a hash ratchet generation's key, nonce and next secret, i.e.
        DeriveTreeSecret(secret, "key" / "nonce" / "secret", generation, Nk / Nn / Nh).

        Every message sent or received takes one step, so the three one-block
        expansions share one keyed HMAC and their KDFLabel prefixes are kept encoded.
        """
        key_prefix, nonce_prefix, secret_prefix = _ratchet_label_prefixes(
            self.aead_key_len, self.aead_nonce_len, self.hash_len
        )
        # KDFLabel.context is the uint32 generation as opaque<V> (a 4-byte vector).
        tail = b"\x04" + generation.to_bytes(4, "big") + _FIRST_BLOCK
        key, nonce, next_secret = hashing.hmac_sha256_each(
            secret, key_prefix + tail, nonce_prefix + tail, secret_prefix + tail
        )
        return key[: self.aead_key_len], nonce[: self.aead_nonce_len], next_secret

    def derive_secret(self, secret: bytes, label: str | bytes) -> bytes:
        """§8 DeriveSecret: ExpandWithLabel(secret, label, "", Nh)."""
        return self.expand_with_label(secret, label, b"", self.hash_len)

    def derive_tree_secret(self, secret: bytes, label: str, generation: int, length: int) -> bytes:
        """§9 DeriveTreeSecret: ExpandWithLabel(secret, label, uint32 generation, length)."""
        return self.expand_with_label(secret, label, generation.to_bytes(4, "big"), length)

    # --- references (§5.2) ------------------------------------------------------------

    def ref_hash(self, label: bytes, value: bytes) -> bytes:
        """§5.2 RefHash: Hash(RefHashInput{label, value}); the label is used as given."""
        return self.hash(encode_vector(label) + encode_vector(value))

    def make_key_package_ref(self, key_package: bytes) -> bytes:
        """§5.2 MakeKeyPackageRef over an encoded KeyPackage."""
        return self.ref_hash(KEY_PACKAGE_REF_LABEL, key_package)

    def make_leaf_node_ref(self, leaf_node: bytes) -> bytes:
        """§5.2 MakeLeafNodeRef over an encoded LeafNode."""
        return self.ref_hash(LEAF_NODE_REF_LABEL, leaf_node)

    def make_proposal_ref(self, authenticated_content: bytes) -> bytes:
        """§5.2 MakeProposalRef over the encoded AuthenticatedContent carrying the proposal."""
        return self.ref_hash(PROPOSAL_REF_LABEL, authenticated_content)

    # --- signatures (§5.1.2) ----------------------------------------------------------

    def generate_signature_key(self) -> signing.SigningKey:
        return signing.SigningKey.generate()

    def signature_key(self, private: bytes) -> signing.SigningKey:
        """An Ed25519 signing key from its 32-byte encoding (§5.1.1 SignaturePrivateKey)."""
        try:
            return signing.SigningKey.from_bytes(private)
        except CryptoError as exc:
            raise ValidationError(f"RFC 9420 §5.1.1: bad signature private key: {exc}") from exc

    def sign_with_label(self, key: signing.SigningKey, label: str, content: bytes) -> bytes:
        """§5.1.2 SignWithLabel: sign SignContent{"MLS 1.0 " + label, content}."""
        return key.sign(_labeled(label) + encode_vector(content))

    def verify_with_label(
        self, public: bytes | signing.VerifyingKey, label: str, content: bytes, signature: bytes
    ) -> None:
        """§5.1.2 VerifyWithLabel; raises :class:`CryptoFailure` naming the label."""
        try:
            key = (
                public if isinstance(public, signing.VerifyingKey) else signing.VerifyingKey(public)
            )
            key.verify(signature, _labeled(label) + encode_vector(content))
        except CryptoError as exc:
            raise CryptoFailure(f"RFC 9420 §5.1.2: {label} signature: {exc}") from exc

    # --- public-key encryption (§5.1.3) -----------------------------------------------

    def generate_hpke_key_pair(self) -> dh.DHKeyPair:
        return hpke.generate_key_pair()

    def derive_hpke_key_pair(self, ikm: bytes) -> dh.DHKeyPair:
        """HPKE DeriveKeyPair (RFC 9180 §7.1.3), as §7.4 and §8 use it on node secrets."""
        try:
            return hpke.derive_key_pair(ikm)
        except CryptoError as exc:
            raise ValidationError(f"RFC 9180 §7.1.3 DeriveKeyPair: {exc}") from exc

    def hpke_key_pair(self, private: bytes) -> dh.DHKeyPair:
        """An HPKE key pair from its 32-byte private key encoding."""
        try:
            return dh.DHKeyPair.from_bytes(private)
        except CryptoError as exc:
            raise ValidationError(f"RFC 9420 §5.1.1: bad HPKE private key: {exc}") from exc

    def encrypt_with_label(
        self,
        public: bytes,
        label: str,
        context: bytes,
        plaintext: bytes,
        *,
        ephemeral: dh.DHKeyPair | None = None,
    ) -> tuple[bytes, bytes]:
        """§5.1.3 EncryptWithLabel: SealBase(public, EncryptContext{label, context}, "", pt).

        Returns ``(kem_output, ciphertext)``, the fields of an HPKECiphertext.
        ``ephemeral`` is for known-answer tests only.
        """
        info = _labeled(label) + encode_vector(context)
        try:
            return hpke.seal_base(self.hpke_aead, public, info, b"", plaintext, ephemeral=ephemeral)
        except CryptoError as exc:
            raise CryptoFailure(f"RFC 9420 §5.1.3: {label} encryption: {exc}") from exc

    def decrypt_with_label(
        self,
        key_pair: dh.DHKeyPair,
        label: str,
        context: bytes,
        kem_output: bytes,
        ciphertext: bytes,
    ) -> bytes:
        """§5.1.3 DecryptWithLabel; raises :class:`CryptoFailure` naming the label."""
        info = _labeled(label) + encode_vector(context)
        try:
            return hpke.open_base(self.hpke_aead, kem_output, key_pair, info, b"", ciphertext)
        except CryptoError as exc:
            raise CryptoFailure(f"RFC 9420 §5.1.3: {label} decryption: {exc}") from exc

    def hpke_export_sender(
        self, public: bytes, exporter_context: bytes, length: int
    ) -> tuple[bytes, bytes]:
        """SetupBaseS(public, "") then Export: ``(kem_output, exported)`` (§8.3 external init)."""
        try:
            kem_output, context = hpke.setup_base_sender(self.hpke_aead, public, b"")
        except CryptoError as exc:
            raise CryptoFailure(f"HPKE setup to an external public key: {exc}") from exc
        return kem_output, context.export(exporter_context, length)

    def hpke_export_recipient(
        self, key_pair: dh.DHKeyPair, kem_output: bytes, exporter_context: bytes, length: int
    ) -> bytes:
        """SetupBaseR(kem_output, private, "") then Export (§8.3 external init)."""
        try:
            context = hpke.setup_base_recipient(self.hpke_aead, kem_output, key_pair, b"")
        except CryptoError as exc:
            raise CryptoFailure(f"HPKE setup from an external init kem_output: {exc}") from exc
        return context.export(exporter_context, length)

    # --- symmetric encryption ---------------------------------------------------------

    def keyed_aead(self, key: bytes) -> aead.Aead:
        """The suite's AEAD under ``key`` (Nk bytes)."""
        try:
            return self.aead_kind(key)
        except CryptoError as exc:
            raise ValidationError(f"{self.name} AEAD key: {exc}") from exc

    def aead_open(
        self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes, what: str
    ) -> bytes:
        """AEAD.Open raising :class:`CryptoFailure` that names ``what`` was being opened."""
        try:
            return self.keyed_aead(key).open(nonce, ciphertext, aad)
        except CryptoError as exc:
            raise CryptoFailure(f"{what}: {exc}") from exc

    def aead_seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        return self.keyed_aead(key).seal(nonce, plaintext, aad)


@functools.cache
def _key_and_nonce_prefixes(
    key_label: str, nonce_label: str, key_len: int, nonce_len: int
) -> tuple[bytes, bytes]:
    """The KDFLabel prefixes of an AEAD key and nonce (§6.3.2, §9.1, §12.4.3.1 labels)."""
    return _kdf_label_prefix(key_label, key_len), _kdf_label_prefix(nonce_label, nonce_len)


@functools.cache
def _ratchet_label_prefixes(key_len: int, nonce_len: int, hash_len: int) -> tuple[bytes, ...]:
    """§9.1 the KDFLabel prefixes of the ratchet's "key", "nonce" and "secret" outputs."""
    return (
        _kdf_label_prefix("key", key_len),
        _kdf_label_prefix("nonce", nonce_len),
        _kdf_label_prefix("secret", hash_len),
    )


def _suite(suite_id: CipherSuiteId, aead_id: hpke.AeadId) -> CipherSuite:
    return CipherSuite(suite_id, aead_id, aead_id.key_len, aead_id.nonce_len, aead_id.kind)


SUITES: dict[int, CipherSuite] = {
    suite_id: _suite(suite_id, aead_id)
    for suite_id, aead_id in (
        (CipherSuiteId.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, hpke.AeadId.AES_128_GCM),
        (
            CipherSuiteId.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
            hpke.AeadId.CHACHA20_POLY1305,
        ),
    )
}


def cipher_suite(suite_id: int) -> CipherSuite:
    """The suite for a wire CipherSuite value; unsupported values are a ValidationError."""
    suite = SUITES.get(suite_id)
    if suite is None:
        raise ValidationError(f"RFC 9420 §17.1: cipher suite {suite_id} is not supported")
    return suite
