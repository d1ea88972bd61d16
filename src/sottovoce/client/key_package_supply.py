"""This device's MLS KeyPackages: kept privately, offered on the server's directory.

Each KeyPackage is an offer to be added to one group (RFC 9420 §10): the server
hands each out once, and the Welcome that uses it names it by its KeyPackageRef
(§5.2), so the private keys behind every uploaded package stay in the encrypted
store until a Welcome consumes them. One last-resort KeyPackage (§16.8) is reused
when the one-time ones run out, so a device is never unreachable for groups.

Bundles are saved before they are uploaded: a lost answer leaves the device
holding private keys for packages the server may have, never the reverse.
"""

from __future__ import annotations

import logging

from sottovoce.client import server_json as sj
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.mls.group.credentials import DeviceIdentity
from sottovoce.mls.group.key_packages import KeyPackageBundle

log = logging.getLogger("sottovoce.client.groups")

# RFC 9420 §17.1: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, the suite every
# Sottovoce device offers; suite 3 (ChaCha20-Poly1305) is supported on joining.
CIPHER_SUITE = 1
# One-time KeyPackages a device keeps on the server: one per group it may be added
# to before it next connects. Below the server's watermark (10) it tops up to this.
TARGET = 30
# server.limits.MAX_KEY_PACKAGES_PER_UPLOAD.
MAX_PER_UPLOAD = 100

_BUNDLE = "mls_key_package"
_LAST_RESORT = "mls_last_resort"
_SELF = "self"
PATH = "/v1/devices/self/key-packages"


class KeyPackageSupply:
    def __init__(
        self, store: Store, transport: Transport, identity: DeviceIdentity, signer: SigningKey
    ) -> None:
        self._store = store
        self._transport = transport
        self._identity = identity
        self._signer = signer

    def _new(self, *, last_resort: bool = False) -> KeyPackageBundle:
        return KeyPackageBundle.create(
            CIPHER_SUITE, bytes(self._identity), self._signer, last_resort=last_resort
        )

    async def replenish(self) -> None:
        """Top the server's supply up to :data:`TARGET` and make sure it holds a
        last-resort KeyPackage."""
        status = await self._transport.request("GET", PATH)
        held = sj.integer(status, "key_packages", "key package status")
        has_last_resort = sj.boolean(status, "last_resort", "key package status")
        count = min(MAX_PER_UPLOAD, max(0, TARGET - held))
        if count == 0 and has_last_resort:
            return
        fresh = [self._new() for _ in range(count)]
        last_resort = None if has_last_resort else self._new(last_resort=True)
        with self._store.transaction():
            for bundle in fresh:
                self._store.put(_BUNDLE, bundle.ref.hex(), bundle.to_bytes())
            if last_resort is not None:
                self._store.put(_BUNDLE, last_resort.ref.hex(), last_resort.to_bytes())
                self._store.put(_LAST_RESORT, _SELF, last_resort.ref)
        body: dict[str, object] = {"key_packages": [sj.b64(b.public_bytes()) for b in fresh]}
        if last_resort is not None:
            body["last_resort"] = sj.b64(last_resort.public_bytes())
        await self._transport.request("PUT", PATH, body)
        log.info("uploaded %d KeyPackages", len(fresh) + (last_resort is not None))

    def bundles(self) -> dict[bytes, KeyPackageBundle]:
        """Every KeyPackage this device may be welcomed with, by KeyPackageRef."""
        found = {}
        for raw in self._store.all(_BUNDLE):
            bundle = KeyPackageBundle.from_bytes(raw)
            found[bundle.ref] = bundle
        return found

    def consume(self, ref: bytes) -> None:
        """Forget a one-time KeyPackage a Welcome used (inside the caller's
        transaction); the last-resort one stays until it is replaced."""
        if self._store.get(_LAST_RESORT, _SELF) != ref:
            self._store.delete(_BUNDLE, ref.hex())
