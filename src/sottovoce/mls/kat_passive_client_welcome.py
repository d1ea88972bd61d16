"""Known answers for a client that only follows a group: passive-client-welcome.json
(RFC 9420 §12.4.3.1, §12.4.2).

A case gives a KeyPackage with its private keys, a Welcome built on it (and the
ratchet tree when the Welcome does not carry it), then epoch after epoch the
proposals and the commit the group sent. The client joins, processes everything
with :class:`~sottovoce.mls.group.Group` as any member would, and must reach the
published epoch_authenticator after the Welcome and after every commit.
passive-client-handling-commit.json and passive-client-random.json are checked
by :func:`follow` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.group import Group, GroupConfig, KeyPackageBundle
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.message import MLSMessage

FILE = "passive-client-welcome.json"


def _bundle(case: Mapping[str, Any]) -> KeyPackageBundle:
    suite = cipher_suite(int(case["cipher_suite"]))
    message = MLSMessage.from_bytes(bytes.fromhex(case["key_package"]))
    if not isinstance(message.body, KeyPackage):
        raise KatMismatch("passive client: key_package is not a KeyPackage")
    bundle = KeyPackageBundle(
        message.body,
        suite.hpke_key_pair(bytes.fromhex(case["init_priv"])),
        suite.hpke_key_pair(bytes.fromhex(case["encryption_priv"])),
        suite.signature_key(bytes.fromhex(case["signature_priv"])),
    )
    if bundle.init_key_pair.public != message.body.init_key:
        raise KatMismatch("passive client: init_priv does not match the KeyPackage")
    return bundle


def follow(case: Mapping[str, Any]) -> None:
    """Join from the case's Welcome, then process every epoch's messages."""
    psks = {
        bytes.fromhex(entry["psk_id"]): bytes.fromhex(entry["psk"])
        for entry in case["external_psks"]
    }
    tree = case.get("ratchet_tree")
    group = Group.join(
        bytes.fromhex(case["welcome"]),
        _bundle(case),
        ratchet_tree=None if tree is None else bytes.fromhex(tree),
        external_psks=psks,
        config=GroupConfig(),
    )
    if group.epoch_authenticator.hex() != case["initial_epoch_authenticator"]:
        raise KatMismatch("passive client: epoch_authenticator after the Welcome")
    for number, epoch in enumerate(case["epochs"]):
        for proposal in epoch["proposals"]:
            group.process(bytes.fromhex(proposal))
        group.process(bytes.fromhex(epoch["commit"]))
        if group.epoch_authenticator.hex() != epoch["epoch_authenticator"]:
            raise KatMismatch(f"passive client: epoch_authenticator after commit {number}")


check = follow
