"""Known answers for joining by Welcome: welcome.json (RFC 9420 §12.4.3.1).

The Welcome, GroupSecrets and GroupInfo are read field by field here with the codec;
the decryption, signature and confirmation-tag checks are those of
:mod:`sottovoce.mls.welcome`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls import key_schedule, welcome
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.codec import Reader
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.psk import psk_secret

FILE = "welcome.json"

# §6 MLSMessage header: ProtocolVersion mls10, then the wire format (§17.2).
_MLS10 = 1
_WIRE_FORMAT_WELCOME = 3
_WIRE_FORMAT_KEY_PACKAGE = 5


def _mls_message_body(data: bytes, wire_format: int, what: str) -> bytes:
    reader = Reader(data)
    if reader.uint16(f"{what} version") != _MLS10:
        raise KatMismatch(f"welcome: {what} is not mls10")
    if reader.uint16(f"{what} wire_format") != wire_format:
        raise KatMismatch(f"welcome: {what} has the wrong wire format")
    return reader.raw(reader.remaining, what)


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    key_package = _mls_message_body(
        bytes.fromhex(case["key_package"]), _WIRE_FORMAT_KEY_PACKAGE, "KeyPackage"
    )
    kp_reader = Reader(key_package)
    kp_reader.raw(4, "KeyPackage version and cipher_suite")
    init_key = kp_reader.vector("KeyPackage.init_key")
    init_key_pair = suite.hpke_key_pair(bytes.fromhex(case["init_priv"]))
    if init_key_pair.public != init_key:
        raise KatMismatch("welcome: init_priv does not match the KeyPackage init_key")
    key_package_ref = suite.make_key_package_ref(key_package)

    # §12.4.3.1 Welcome {cipher_suite, EncryptedGroupSecrets secrets<V>, encrypted_group_info<V>}
    reader = Reader(
        _mls_message_body(bytes.fromhex(case["welcome"]), _WIRE_FORMAT_WELCOME, "Welcome")
    )
    if reader.uint16("Welcome.cipher_suite") != suite.id:
        raise KatMismatch("welcome: cipher suite")
    entries = reader.sub_reader("Welcome.secrets")
    encrypted_group_info = reader.vector("Welcome.encrypted_group_info")
    reader.finish("Welcome")
    ours = None
    while entries.remaining:
        new_member = entries.vector("EncryptedGroupSecrets.new_member")
        kem_output = entries.vector("HPKECiphertext.kem_output")
        ciphertext = entries.vector("HPKECiphertext.ciphertext")
        if new_member == key_package_ref:
            ours = (kem_output, ciphertext)
    if ours is None:
        raise KatMismatch("welcome: no EncryptedGroupSecrets for our KeyPackageRef")

    group_secrets = Reader(
        welcome.decrypt_group_secrets(suite, init_key_pair, encrypted_group_info, *ours)
    )
    joiner_secret = group_secrets.vector("GroupSecrets.joiner_secret")
    if group_secrets.uint8("GroupSecrets.path_secret presence"):
        group_secrets.vector("PathSecret.path_secret")
    psk_ids = group_secrets.sub_reader("GroupSecrets.psks")
    group_secrets.finish("GroupSecrets")
    if psk_ids.remaining:
        raise KatMismatch("welcome: the vector's GroupSecrets names a PSK we were not given")
    no_psks = psk_secret(suite, [])

    group_info = welcome.decrypt_group_info(
        suite, key_schedule.welcome_secret(suite, joiner_secret, no_psks), encrypted_group_info
    )
    # §12.4.3 GroupInfo {GroupContext, extensions<V>, confirmation_tag, signer, signature<V>}
    info = Reader(group_info)
    context_start = info.remaining
    info.raw(4, "GroupContext version and cipher_suite")
    info.vector("GroupContext.group_id")
    info.uint64("GroupContext.epoch")
    info.vector("GroupContext.tree_hash")
    confirmed_transcript_hash = info.vector("GroupContext.confirmed_transcript_hash")
    info.vector("GroupContext.extensions")
    group_context = group_info[: context_start - info.remaining]
    info.vector("GroupInfo.extensions")
    confirmation_tag = info.vector("GroupInfo.confirmation_tag")
    info.uint32("GroupInfo.signer")
    group_info_tbs = group_info[: len(group_info) - info.remaining]
    signature = info.vector("GroupInfo.signature")
    info.finish("GroupInfo")

    welcome.verify_group_info(suite, bytes.fromhex(case["signer_pub"]), group_info_tbs, signature)
    welcome.joiner_epoch(
        suite,
        joiner_secret,
        no_psks,
        group_context,
        confirmed_transcript_hash,
        confirmation_tag,
    )
