"""Welcome encryption and the checks a joiner makes on it (RFC 9420 §12.4.3.1).

One Welcome serves many new members: the GroupInfo is encrypted once under a key
from the epoch's welcome_secret, and the GroupSecrets (joiner secret, optional path
secret, PSK ids) are encrypted to each new member's KeyPackage init key with
EncryptWithLabel "Welcome", bound to that very encrypted GroupInfo. A joiner trusts
the GroupInfo only after its signature and confirmation tag verify.

The functions take and return encoded structures; the structures themselves, and
the GroupInfo signature, are :mod:`sottovoce.mls.wire.welcome` and
:mod:`sottovoce.mls.wire.group_info`.
"""

from __future__ import annotations

from sottovoce.crypto import dh
from sottovoce.mls import key_schedule, transcript
from sottovoce.mls.ciphersuite import CipherSuite

# §12.4.3.1: the EncryptWithLabel label of GroupSecrets.
WELCOME_LABEL = "Welcome"


def welcome_key_and_nonce(suite: CipherSuite, welcome_secret: bytes) -> tuple[bytes, bytes]:
    """§12.4.3.1: ExpandWithLabel(welcome_secret, "key" / "nonce", "", AEAD.Nk / Nn)."""
    return suite.expand_key_and_nonce(welcome_secret, b"", "key", "nonce")


def encrypt_group_info(suite: CipherSuite, welcome_secret: bytes, group_info: bytes) -> bytes:
    """§12.4.3.1: the encrypted_group_info field, AEAD-sealed with no associated data."""
    key, nonce = welcome_key_and_nonce(suite, welcome_secret)
    return suite.aead_seal(key, nonce, b"", group_info)


def decrypt_group_info(
    suite: CipherSuite, welcome_secret: bytes, encrypted_group_info: bytes
) -> bytes:
    """§12.4.3.1: the encoded GroupInfo; raises CryptoFailure if it does not open."""
    key, nonce = welcome_key_and_nonce(suite, welcome_secret)
    return suite.aead_open(
        key, nonce, b"", encrypted_group_info, "RFC 9420 §12.4.3.1: encrypted_group_info"
    )


def encrypt_group_secrets(
    suite: CipherSuite, init_key: bytes, encrypted_group_info: bytes, group_secrets: bytes
) -> tuple[bytes, bytes]:
    """§12.4.3.1: EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets)
    as ``(kem_output, ciphertext)``."""
    return suite.encrypt_with_label(init_key, WELCOME_LABEL, encrypted_group_info, group_secrets)


def decrypt_group_secrets(
    suite: CipherSuite,
    init_key_pair: dh.DHKeyPair,
    encrypted_group_info: bytes,
    kem_output: bytes,
    ciphertext: bytes,
) -> bytes:
    """§12.4.3.1: the encoded GroupSecrets, opened with the KeyPackage's init key."""
    return suite.decrypt_with_label(
        init_key_pair, WELCOME_LABEL, encrypted_group_info, kem_output, ciphertext
    )


def joiner_epoch(
    suite: CipherSuite,
    joiner_secret: bytes,
    psk_secret: bytes,
    group_context: bytes,
    confirmed_transcript_hash: bytes,
    confirmation_tag: bytes,
) -> key_schedule.EpochSecrets:
    """§12.4.3.1: the epoch a Welcome admits us to, once its confirmation tag checks.

    ``group_context`` is the GroupInfo's encoded GroupContext and
    ``confirmed_transcript_hash`` the hash it carries.
    """
    secrets = key_schedule.epoch_secrets_from_joiner(
        suite, joiner_secret, psk_secret, group_context
    )
    transcript.verify_confirmation_tag(
        suite, secrets.confirmation_key, confirmed_transcript_hash, confirmation_tag
    )
    return secrets
