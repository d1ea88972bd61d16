"""The epoch key schedule beyond the vectors: joiner path, external init, bad lengths."""

from __future__ import annotations

import pytest

from sottovoce.mls import key_schedule
from sottovoce.mls.ciphersuite import SUITES, CipherSuite, cipher_suite
from sottovoce.mls.errors import CryptoFailure, ValidationError

ALL_SUITES = pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)
GROUP_CONTEXT = b"an encoded GroupContext"


@ALL_SUITES
def test_committer_and_joiner_derive_the_same_epoch(suite: CipherSuite) -> None:
    init_secret, commit_secret, psk_secret = bytes(range(32)), bytes(range(1, 33)), bytes(32)
    committer = key_schedule.epoch_secrets(
        suite, init_secret, commit_secret, psk_secret, GROUP_CONTEXT
    )
    joiner = key_schedule.joiner_secret(suite, init_secret, commit_secret, GROUP_CONTEXT)
    assert joiner == committer.joiner_secret
    assert key_schedule.welcome_secret(suite, joiner, psk_secret) == committer.welcome_secret
    welcomed = key_schedule.epoch_secrets_from_joiner(suite, joiner, psk_secret, GROUP_CONTEXT)
    assert welcomed == committer


def test_every_epoch_secret_is_distinct_and_bound_to_the_group_context() -> None:
    suite = cipher_suite(1)
    first = key_schedule.epoch_secrets(suite, bytes(32), bytes(32), bytes(32), GROUP_CONTEXT)
    values = [getattr(first, name) for name in first.__slots__]
    assert len(set(values)) == len(values)
    other = key_schedule.epoch_secrets(suite, bytes(32), bytes(32), bytes(32), b"other context")
    assert all(getattr(first, n) != getattr(other, n) for n in first.__slots__)


def test_repr_hides_every_secret() -> None:
    secrets = key_schedule.epoch_secrets(cipher_suite(1), bytes(32), bytes(32), bytes(32), b"")
    assert repr(secrets) == "EpochSecrets(<secret>)"
    assert secrets.epoch_secret.hex() not in str(secrets)


@pytest.mark.parametrize("field", ["init", "commit", "psk"])
def test_secrets_of_the_wrong_length_are_rejected(field: str) -> None:
    lengths = {"init": 32, "commit": 32, "psk": 32} | {field: 31}
    with pytest.raises(ValidationError, match=f"{field}_secret must be KDF.Nh = 32 bytes"):
        key_schedule.epoch_secrets(
            cipher_suite(1),
            bytes(lengths["init"]),
            bytes(lengths["commit"]),
            bytes(lengths["psk"]),
            GROUP_CONTEXT,
        )


@ALL_SUITES
def test_external_init_gives_joiner_and_members_the_same_init_secret(suite: CipherSuite) -> None:
    secrets = key_schedule.epoch_secrets(suite, bytes(32), bytes(32), bytes(32), GROUP_CONTEXT)
    external_pub = key_schedule.external_key_pair(suite, secrets.external_secret).public
    kem_output, init_secret = key_schedule.external_init_sender(suite, external_pub)
    assert len(init_secret) == suite.hash_len
    received = key_schedule.external_init_recipient(suite, secrets.external_secret, kem_output)
    assert received == init_secret
    again_output, again = key_schedule.external_init_sender(suite, external_pub)
    assert again_output != kem_output and again != init_secret
    with pytest.raises(CryptoFailure, match="external init kem_output"):
        key_schedule.external_init_recipient(suite, secrets.external_secret, kem_output[:-1])


def test_exporter_separates_labels_contexts_and_lengths() -> None:
    suite = cipher_suite(1)
    secret = bytes(range(32))
    base = key_schedule.mls_exporter(suite, secret, "label", b"context", 32)
    assert key_schedule.mls_exporter(suite, secret, b"label", b"context", 32) == base
    assert key_schedule.mls_exporter(suite, secret, "label2", b"context", 32) != base
    assert key_schedule.mls_exporter(suite, secret, "label", b"context2", 32) != base
    assert key_schedule.mls_exporter(suite, secret, "label", b"context", 16) != base[:16]


@ALL_SUITES
def test_sender_data_key_samples_at_most_nh_bytes(suite: CipherSuite) -> None:
    secret = bytes(range(32))
    long_ciphertext = bytes(range(100))
    key, nonce = key_schedule.sender_data_key_and_nonce(suite, secret, long_ciphertext)
    assert (len(key), len(nonce)) == (suite.aead_key_len, suite.aead_nonce_len)
    same = key_schedule.sender_data_key_and_nonce(suite, secret, long_ciphertext[:32] + b"x")
    assert same == (key, nonce)
    short = key_schedule.sender_data_key_and_nonce(suite, secret, long_ciphertext[:5])
    assert short != (key, nonce)
