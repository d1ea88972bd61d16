"""Welcome encryption, GroupInfo signatures and confirmation (RFC 9420 §12.4.3.1)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sottovoce.mls import key_schedule, transcript, welcome
from sottovoce.mls.ciphersuite import SUITES, CipherSuite
from sottovoce.mls.errors import CryptoFailure
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.group_info import GroupInfo

ALL_SUITES = pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)
GROUP_CONTEXT = b"encoded GroupContext"
CONFIRMED = bytes(range(32))


def group_info(suite: CipherSuite, tag: bytes = bytes(32)) -> GroupInfo:
    context = GroupContext(suite.id, b"group", 3, bytes(32), CONFIRMED)
    return GroupInfo(context, (), tag, signer=0)


@ALL_SUITES
def test_a_new_member_opens_what_the_committer_sealed(suite: CipherSuite) -> None:
    joiner, psk_secret = bytes(range(32)), bytes(32)
    epoch = key_schedule.epoch_secrets_from_joiner(suite, joiner, psk_secret, GROUP_CONTEXT)
    tag = transcript.confirmation_tag(suite, epoch.confirmation_key, CONFIRMED)
    signer = suite.generate_signature_key()
    signed_info = group_info(suite, tag).signed(suite, signer)
    encrypted_info = welcome.encrypt_group_info(suite, epoch.welcome_secret, bytes(signed_info))
    init_key = suite.generate_hpke_key_pair()
    kem_output, sealed = welcome.encrypt_group_secrets(
        suite, init_key.public, encrypted_info, b"GroupSecrets bytes"
    )

    opened = welcome.decrypt_group_secrets(suite, init_key, encrypted_info, kem_output, sealed)
    assert opened == b"GroupSecrets bytes"
    welcome_secret = key_schedule.welcome_secret(suite, joiner, psk_secret)
    info = welcome.decrypt_group_info(suite, welcome_secret, encrypted_info)
    GroupInfo.from_bytes(info).verify_signature(suite, signer.public)
    joined = welcome.joiner_epoch(suite, joiner, psk_secret, GROUP_CONTEXT, CONFIRMED, tag)
    assert joined == epoch


def test_group_secrets_are_bound_to_the_encrypted_group_info() -> None:
    suite = SUITES[1]
    init_key = suite.generate_hpke_key_pair()
    kem_output, sealed = welcome.encrypt_group_secrets(suite, init_key.public, b"info A", b"gs")
    with pytest.raises(CryptoFailure, match="Welcome decryption"):
        welcome.decrypt_group_secrets(suite, init_key, b"info B", kem_output, sealed)


def test_group_info_needs_the_right_welcome_secret() -> None:
    suite = SUITES[3]
    encrypted = welcome.encrypt_group_info(suite, bytes(32), b"group info")
    with pytest.raises(CryptoFailure, match="encrypted_group_info"):
        welcome.decrypt_group_info(suite, bytes(31) + b"\x01", encrypted)
    with pytest.raises(CryptoFailure, match="shorter than"):
        welcome.decrypt_group_info(suite, bytes(32), b"")


def test_forged_group_info_signature_is_rejected() -> None:
    suite = SUITES[1]
    signer, impostor = suite.generate_signature_key(), suite.generate_signature_key()
    forged = group_info(suite).signed(suite, impostor)
    with pytest.raises(CryptoFailure, match="GroupInfoTBS signature"):
        forged.verify_signature(suite, signer.public)
    # A signature over the same bytes with another label does not pass either.
    other_label = suite.sign_with_label(signer, "FramedContentTBS", forged.tbs())
    with pytest.raises(CryptoFailure):
        replace(forged, signature=other_label).verify_signature(suite, signer.public)


def test_wrong_confirmation_tag_or_psk_stops_the_join() -> None:
    suite = SUITES[1]
    joiner = bytes(range(32))
    epoch = key_schedule.epoch_secrets_from_joiner(suite, joiner, bytes(32), GROUP_CONTEXT)
    tag = transcript.confirmation_tag(suite, epoch.confirmation_key, CONFIRMED)
    with pytest.raises(CryptoFailure, match="confirmation_tag"):
        welcome.joiner_epoch(suite, joiner, bytes(32), GROUP_CONTEXT, bytes(32), tag)
    with pytest.raises(CryptoFailure, match="confirmation_tag"):
        welcome.joiner_epoch(suite, joiner, b"\x01" * 32, GROUP_CONTEXT, CONFIRMED, tag)
