"""Known answers for joining by Welcome: welcome.json (RFC 9420 §12.4.3.1).

The KeyPackage, Welcome, GroupSecrets and GroupInfo decode as
:mod:`sottovoce.mls.wire` structures; the decryption and confirmation-tag checks
are those of :mod:`sottovoce.mls.welcome`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls import key_schedule, welcome
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.psk import psk_secret
from sottovoce.mls.wire.group_info import GroupInfo
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.welcome import GroupSecrets, Welcome

FILE = "welcome.json"


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    key_package = MLSMessage.from_bytes(bytes.fromhex(case["key_package"])).body
    message = MLSMessage.from_bytes(bytes.fromhex(case["welcome"])).body
    if not isinstance(key_package, KeyPackage) or not isinstance(message, Welcome):
        raise KatMismatch("welcome: expected a KeyPackage and a Welcome")
    init_key_pair = suite.hpke_key_pair(bytes.fromhex(case["init_priv"]))
    if init_key_pair.public != key_package.init_key:
        raise KatMismatch("welcome: init_priv does not match the KeyPackage init_key")
    if message.cipher_suite != suite.id:
        raise KatMismatch("welcome: cipher suite")
    ours = message.secrets_for(key_package.ref(suite))
    if ours is None:
        raise KatMismatch("welcome: no EncryptedGroupSecrets for our KeyPackageRef")

    sealed = ours.encrypted_group_secrets
    group_secrets = GroupSecrets.from_bytes(
        welcome.decrypt_group_secrets(
            suite, init_key_pair, message.encrypted_group_info, sealed.kem_output, sealed.ciphertext
        )
    )
    if group_secrets.psks:
        raise KatMismatch("welcome: the vector's GroupSecrets names a PSK we were not given")
    no_psks = psk_secret(suite, [])

    welcome_secret = key_schedule.welcome_secret(suite, group_secrets.joiner_secret, no_psks)
    group_info = GroupInfo.from_bytes(
        welcome.decrypt_group_info(suite, welcome_secret, message.encrypted_group_info)
    )
    group_info.verify_signature(suite, bytes.fromhex(case["signer_pub"]))
    welcome.joiner_epoch(
        suite,
        group_secrets.joiner_secret,
        no_psks,
        bytes(group_info.group_context),
        group_info.group_context.confirmed_transcript_hash,
        group_info.confirmation_tag,
    )
