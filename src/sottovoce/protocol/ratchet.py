"""The Double Ratchet's key derivations (Signal's Double Ratchet specification, §5.2).

``kdf_rk`` and ``kdf_ck`` are exactly the recommended functions of §5.2. The
message key then keys AES-256-GCM instead of §5.2's AES-256-CBC + HMAC: its
32-byte AES key and 12-byte nonce are the output of HKDF-Expand(mk, info, 44).
Extract is skipped because mk is already a uniformly random HMAC output (RFC
5869 §3.3). Every message key is used for exactly one encryption and then
erased, so each (key, nonce) pair is used once and the nonce can never repeat
under a key.
"""

from __future__ import annotations

from sottovoce.crypto import aead, hashing

ROOT_KEY_LEN = 32
CHAIN_KEY_LEN = 32
MESSAGE_KEY_LEN = 32
AEAD_KEY_LEN = 32

# §5.2: HKDF info strings are application-specific; one per use keeps them apart.
ROOT_INFO = b"Sottovoce_Ratchet_RootKey"
MESSAGE_INFO = b"Sottovoce_Ratchet_MessageKeys"
# §5.2: HMAC keyed with the chain key, over the constant 0x01 for the message
# key and 0x02 for the next chain key.
_MESSAGE_KEY_SEED = b"\x01"
_CHAIN_KEY_SEED = b"\x02"


def kdf_rk(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """§5.2 KDF_RK: HKDF-SHA-256(salt = rk, IKM = dh_out) -> (new root key, chain key)."""
    okm = hashing.hkdf_sha256(
        dh_out, salt=root_key, info=ROOT_INFO, length=ROOT_KEY_LEN + CHAIN_KEY_LEN
    )
    return okm[:ROOT_KEY_LEN], okm[ROOT_KEY_LEN:]


def kdf_ck(chain_key: bytes) -> tuple[bytes, bytes]:
    """§5.2 KDF_CK: (next chain key, message key) = (HMAC(ck, 0x02), HMAC(ck, 0x01))."""
    return hashing.hmac_sha256_pair(chain_key, _CHAIN_KEY_SEED, _MESSAGE_KEY_SEED)


def next_chain_key(chain_key: bytes) -> bytes:
    """The chain-key half of KDF_CK, for positions whose message key would be evicted anyway."""
    return hashing.hmac_sha256(chain_key, _CHAIN_KEY_SEED)


def message_cipher(message_key: bytes) -> tuple[aead.Aead, bytes]:
    """AES-256-GCM keyed from a message key, and the nonce to use with it (once)."""
    okm = hashing.hkdf_expand_sha256(message_key, MESSAGE_INFO, AEAD_KEY_LEN + aead.NONCE_LEN)
    return aead.aes_gcm(okm[:AEAD_KEY_LEN]), okm[AEAD_KEY_LEN:]
