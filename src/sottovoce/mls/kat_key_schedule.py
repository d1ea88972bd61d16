"""Known answers for the epoch key schedule: key-schedule.json (RFC 9420 §8, §8.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls import key_schedule
from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.codec import Writer
from sottovoce.mls.errors import KatMismatch

FILE = "key-schedule.json"

# §8: the epoch fields the vector lists, each compared with EpochSecrets.
_SECRET_FIELDS = (
    "joiner_secret",
    "welcome_secret",
    "sender_data_secret",
    "encryption_secret",
    "exporter_secret",
    "external_secret",
    "confirmation_key",
    "membership_key",
    "resumption_psk",
    "epoch_authenticator",
    "init_secret",
)

# §8.1 GroupContext.version: mls10.
_MLS10 = 1


def _group_context(
    suite: CipherSuite, group_id: bytes, epoch: int, epoch_case: Mapping[str, Any]
) -> bytes:
    """§8.1 GroupContext with no extensions, encoded."""
    return bytes(
        Writer()
        .uint16(_MLS10)
        .uint16(suite.id)
        .vector(group_id)
        .uint64(epoch)
        .vector(bytes.fromhex(epoch_case["tree_hash"]))
        .vector(bytes.fromhex(epoch_case["confirmed_transcript_hash"]))
        .vector(b"")
    )


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    group_id = bytes.fromhex(case["group_id"])
    init_secret = bytes.fromhex(case["initial_init_secret"])
    for epoch, epoch_case in enumerate(case["epochs"]):
        group_context = _group_context(suite, group_id, epoch, epoch_case)
        if group_context != bytes.fromhex(epoch_case["group_context"]):
            raise KatMismatch(f"key-schedule: group_context of epoch {epoch}")
        secrets = key_schedule.epoch_secrets(
            suite,
            init_secret,
            bytes.fromhex(epoch_case["commit_secret"]),
            bytes.fromhex(epoch_case["psk_secret"]),
            group_context,
        )
        for field in _SECRET_FIELDS:
            if getattr(secrets, field) != bytes.fromhex(epoch_case[field]):
                raise KatMismatch(f"key-schedule: {field} of epoch {epoch}")
        external_pub = key_schedule.external_key_pair(suite, secrets.external_secret).public
        if external_pub != bytes.fromhex(epoch_case["external_pub"]):
            raise KatMismatch(f"key-schedule: external_pub of epoch {epoch}")
        exporter = epoch_case["exporter"]
        exported = key_schedule.mls_exporter(
            suite,
            secrets.exporter_secret,
            # The vectors' exporter label is the text as written, not hex-decoded bytes.
            str(exporter["label"]),
            bytes.fromhex(exporter["context"]),
            int(exporter["length"]),
        )
        if exported != bytes.fromhex(exporter["secret"]):
            raise KatMismatch(f"key-schedule: exporter output of epoch {epoch}")
        init_secret = secrets.init_secret
