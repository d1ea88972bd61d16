"""Known answers for combining PSKs: psk_secret.json (RFC 9420 §8.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.codec import Reader
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.psk import psk_secret
from sottovoce.mls.wire.psk import PreSharedKeyId

FILE = "psk_secret.json"


def check(case: Mapping[str, Any]) -> None:
    suite = cipher_suite(int(case["cipher_suite"]))
    psks = []
    for entry in case["psks"]:
        psk_id = PreSharedKeyId.external(
            bytes.fromhex(entry["psk_id"]), bytes.fromhex(entry["psk_nonce"])
        )
        reader = Reader(bytes(psk_id))
        if PreSharedKeyId.decode(reader) != psk_id or reader.remaining:
            raise KatMismatch("psk_secret: PreSharedKeyID does not round-trip")
        psks.append((psk_id, bytes.fromhex(entry["psk"])))
    if psk_secret(suite, psks) != bytes.fromhex(case["psk_secret"]):
        raise KatMismatch(f"psk_secret with {len(psks)} PSKs")
