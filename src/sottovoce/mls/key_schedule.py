"""The epoch key schedule (RFC 9420 §8).

Each epoch's secrets come from the previous epoch's ``init_secret``, the commit
secret of the commit that started the epoch, the PSKs it injected and the new
GroupContext. A member that joins by Welcome starts in the middle, from the
``joiner_secret`` the Welcome hands it (§8, §12.4.3.1). :class:`EpochSecrets` holds
everything derived for one epoch and never shows a secret in its ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import dh
from sottovoce.crypto.hashing import HmacSha256Key
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.errors import ValidationError

# §8.3: the HPKE exporter label of an external commit's init secret.
EXTERNAL_INIT_EXPORTER_LABEL = b"MLS 1.0 external init secret"


@dataclass(frozen=True, slots=True, repr=False)
class EpochSecrets:
    """Every secret of one epoch (§8 Table 4), plus the next epoch's ``init_secret``."""

    joiner_secret: bytes
    welcome_secret: bytes
    epoch_secret: bytes
    sender_data_secret: bytes
    encryption_secret: bytes
    exporter_secret: bytes
    external_secret: bytes
    confirmation_key: bytes
    membership_key: bytes
    resumption_psk: bytes
    epoch_authenticator: bytes
    init_secret: bytes

    def __repr__(self) -> str:
        return "EpochSecrets(<secret>)"


def joiner_secret(
    suite: CipherSuite, init_secret: bytes, commit_secret: bytes, group_context: bytes
) -> bytes:
    """§8: ExpandWithLabel(Extract(init_secret, commit_secret), "joiner", GroupContext, Nh).

    ``group_context`` is the encoded GroupContext of the new epoch.
    """
    _check_len(suite, "init_secret", init_secret)
    _check_len(suite, "commit_secret", commit_secret)
    prk = suite.extract(init_secret, commit_secret)
    return suite.expand_with_label(prk, "joiner", group_context, suite.hash_len)


def _member_prk(suite: CipherSuite, joiner: bytes, psk_secret: bytes) -> bytes:
    """§8: Extract(joiner_secret, psk_secret), from which welcome and epoch secrets come."""
    _check_len(suite, "joiner_secret", joiner)
    _check_len(suite, "psk_secret", psk_secret)
    return suite.extract(joiner, psk_secret)


def welcome_secret(suite: CipherSuite, joiner: bytes, psk_secret: bytes) -> bytes:
    """§8: DeriveSecret(Extract(joiner_secret, psk_secret), "welcome")."""
    return suite.derive_secret(_member_prk(suite, joiner, psk_secret), "welcome")


def epoch_secrets_from_joiner(
    suite: CipherSuite, joiner: bytes, psk_secret: bytes, group_context: bytes
) -> EpochSecrets:
    """§8: every epoch secret from the joiner secret, as a Welcome's recipient computes them."""
    member_prk = _member_prk(suite, joiner, psk_secret)
    epoch = suite.expand_with_label(member_prk, "epoch", group_context, suite.hash_len)
    return EpochSecrets(
        joiner_secret=joiner,
        welcome_secret=suite.derive_secret(member_prk, "welcome"),
        epoch_secret=epoch,
        sender_data_secret=suite.derive_secret(epoch, "sender data"),
        encryption_secret=suite.derive_secret(epoch, "encryption"),
        exporter_secret=suite.derive_secret(epoch, "exporter"),
        external_secret=suite.derive_secret(epoch, "external"),
        confirmation_key=suite.derive_secret(epoch, "confirm"),
        membership_key=suite.derive_secret(epoch, "membership"),
        resumption_psk=suite.derive_secret(epoch, "resumption"),
        epoch_authenticator=suite.derive_secret(epoch, "authentication"),
        init_secret=suite.derive_secret(epoch, "init"),
    )


def epoch_secrets(
    suite: CipherSuite,
    init_secret: bytes,
    commit_secret: bytes,
    psk_secret: bytes,
    group_context: bytes,
) -> EpochSecrets:
    """§8: the whole schedule from the previous ``init_secret``, as a committer runs it.

    ``commit_secret`` and ``psk_secret`` are Nh zero bytes when the commit has no
    path or no PSKs (§8, §8.4).
    """
    joiner = joiner_secret(suite, init_secret, commit_secret, group_context)
    return epoch_secrets_from_joiner(suite, joiner, psk_secret, group_context)


def mls_exporter(
    suite: CipherSuite, exporter_secret: bytes, label: str | bytes, context: bytes, length: int
) -> bytes:
    """§8.5 MLS-Exporter: ExpandWithLabel(DeriveSecret(exporter_secret, label), "exported",
    Hash(context), length)."""
    return suite.expand_with_label(
        suite.derive_secret(exporter_secret, label), "exported", suite.hash(context), length
    )


def external_key_pair(suite: CipherSuite, external_secret: bytes) -> dh.DHKeyPair:
    """§8: external_priv, external_pub = KEM.DeriveKeyPair(external_secret)."""
    return suite.derive_hpke_key_pair(external_secret)


def external_init_sender(suite: CipherSuite, external_pub: bytes) -> tuple[bytes, bytes]:
    """§8.3: a joiner's ``(kem_output, init_secret)`` for an external commit.

    The init secret is exported from an HPKE context set up to the group's
    external public key with empty info; kem_output goes in the ExternalInit proposal.
    """
    return suite.hpke_export_sender(external_pub, EXTERNAL_INIT_EXPORTER_LABEL, suite.hash_len)


def external_init_recipient(suite: CipherSuite, external_secret: bytes, kem_output: bytes) -> bytes:
    """§8.3: a member's view of the init secret an ExternalInit proposal carries."""
    key_pair = external_key_pair(suite, external_secret)
    return suite.hpke_export_recipient(
        key_pair, kem_output, EXTERNAL_INIT_EXPORTER_LABEL, suite.hash_len
    )


def sender_data_key_and_nonce(
    suite: CipherSuite, sender_data_secret: bytes | HmacSha256Key, ciphertext: bytes
) -> tuple[bytes, bytes]:
    """§6.3.2: the key and nonce that protect a PrivateMessage's sender data.

    Both are bound to a sample of the content ciphertext (its first Nh bytes, or all
    of it when shorter), so each message's sender data gets its own key. An epoch
    passes its secret keyed once (:meth:`CipherSuite.keyed_kdf`).
    """
    sample = ciphertext[: suite.hash_len]
    return suite.expand_key_and_nonce(sender_data_secret, sample, "key", "nonce")


def _check_len(suite: CipherSuite, what: str, secret: bytes) -> None:
    if len(secret) != suite.hash_len:
        raise ValidationError(
            f"RFC 9420 §8: {what} must be KDF.Nh = {suite.hash_len} bytes, got {len(secret)}"
        )
