"""KeyPackages: a device's signed, single-use offers to be added to a group (RFC 9420 §10).

A :class:`KeyPackageBundle` is what the device keeps: the public KeyPackage it
uploads to the directory plus the private init, leaf and signature keys that a
Welcome built on it will need. Each KeyPackage carries a lifetime (§7.2); a
last-resort one (the ``last_resort`` extension of the MLS extensions registry,
0x000A) may be handed out more than once when a device's supply runs dry, so
the directory never leaves a device unreachable (§16.8).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sottovoce.crypto import dh, signing
from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError, ValidationError
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.extensions import Extension, find_extension
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.leaf_node import Capabilities, LeafNode, Lifetime
from sottovoce.mls.wire.registry import (
    CredentialType,
    LeafNodeSource,
    ProtocolVersion,
)

# The last_resort KeyPackage extension (IANA MLS Extension Types, 0x000A, defined
# by the MLS extensions document): marks a KeyPackage that may be reused.
LAST_RESORT_EXTENSION = 0x000A

# §7.2 Lifetime: a KeyPackage is valid for 90 days by default, about how long a
# device may stay offline before its uploaded packages should be replaced; its
# not_before is an hour back to absorb clock skew between devices.
DEFAULT_LIFETIME_S = 90 * 24 * 3600
CLOCK_SKEW_S = 3600

# What a Sottovoce client supports (§7.2 Capabilities): MLS 1.0, suites 1 and 3,
# basic credentials, and the last_resort extension; the default proposal and
# extension types need not be listed.
SUPPORTED_SUITES = (0x0001, 0x0003)


def default_capabilities() -> Capabilities:
    return Capabilities(
        versions=(ProtocolVersion.MLS10,),
        cipher_suites=SUPPORTED_SUITES,
        extensions=(LAST_RESORT_EXTENSION,),
        proposals=(),
        credentials=(CredentialType.BASIC,),
    )


def is_last_resort(key_package: KeyPackage) -> bool:
    return find_extension(key_package.extensions, LAST_RESORT_EXTENSION) is not None


@dataclass(frozen=True, slots=True, repr=False)
class KeyPackageBundle:
    """A KeyPackage and the private keys behind it. ``repr`` shows only the reference."""

    key_package: KeyPackage
    init_key_pair: dh.DHKeyPair
    encryption_key_pair: dh.DHKeyPair
    signer: signing.SigningKey

    @classmethod
    def create(
        cls,
        suite_id: int,
        identity: bytes,
        signer: signing.SigningKey,
        *,
        lifetime_s: int = DEFAULT_LIFETIME_S,
        last_resort: bool = False,
        now: int | None = None,
        capabilities: Capabilities | None = None,
    ) -> KeyPackageBundle:
        """A fresh KeyPackage for ``identity`` (a BasicCredential) signed by ``signer``.

        Its init key and leaf encryption key are distinct fresh HPKE keys (§10.1).
        """
        suite = cipher_suite(suite_id)
        if lifetime_s <= 0:
            raise ValidationError("RFC 9420 §7.2: a KeyPackage lifetime must be positive")
        issued = int(time.time()) if now is None else now
        init_key_pair = suite.generate_hpke_key_pair()
        encryption_key_pair = suite.generate_hpke_key_pair()
        leaf = LeafNode(
            encryption_key=encryption_key_pair.public,
            signature_key=signer.public,
            credential=Credential.basic(identity),
            capabilities=capabilities or default_capabilities(),
            leaf_node_source=LeafNodeSource.KEY_PACKAGE,
            lifetime=Lifetime(max(0, issued - CLOCK_SKEW_S), issued + lifetime_s),
        ).signed(suite, signer)
        extensions = (Extension(LAST_RESORT_EXTENSION, b""),) if last_resort else ()
        key_package = KeyPackage(
            ProtocolVersion.MLS10, suite_id, init_key_pair.public, leaf, extensions
        ).signed(suite, signer)
        return cls(key_package, init_key_pair, encryption_key_pair, signer)

    @property
    def suite(self) -> CipherSuite:
        return cipher_suite(self.key_package.cipher_suite)

    @property
    def ref(self) -> bytes:
        """§5.2 KeyPackageRef: how a Welcome names this package."""
        return self.key_package.ref(self.suite)

    @property
    def last_resort(self) -> bool:
        return is_last_resort(self.key_package)

    def public_bytes(self) -> bytes:
        """The MLSMessage-framed KeyPackage to upload (§6: version, wire format 5)."""
        return bytes(Writer().uint16(ProtocolVersion.MLS10).uint16(5)) + bytes(self.key_package)

    def to_bytes(self) -> bytes:
        """The private bundle for the device's encrypted store; never leaves the device."""
        writer = Writer().vector(bytes(self.key_package))
        writer.vector(self.init_key_pair.private_bytes())
        writer.vector(self.encryption_key_pair.private_bytes())
        writer.vector(self.signer.private_bytes())
        return bytes(writer)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyPackageBundle:
        reader = Reader(data)
        key_package = KeyPackage.from_bytes(reader.vector("KeyPackageBundle.key_package"))
        suite = cipher_suite(key_package.cipher_suite)
        init_key_pair = suite.hpke_key_pair(reader.vector("KeyPackageBundle.init_key"))
        encryption_key_pair = suite.hpke_key_pair(reader.vector("KeyPackageBundle.leaf_key"))
        signer = suite.signature_key(reader.vector("KeyPackageBundle.signer"))
        reader.finish("KeyPackageBundle")
        if (
            init_key_pair.public != key_package.init_key
            or encryption_key_pair.public != key_package.leaf_node.encryption_key
            or signer.public != key_package.leaf_node.signature_key
        ):
            raise DecodeError("KeyPackageBundle: private keys do not match the KeyPackage")
        return cls(key_package, init_key_pair, encryption_key_pair, signer)

    def __repr__(self) -> str:
        return f"KeyPackageBundle(ref={self.ref.hex()[:16]}…, last_resort={self.last_resort})"
