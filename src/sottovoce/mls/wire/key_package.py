"""KeyPackage (RFC 9420 §10): a client's signed offer to be added to a group.

The signature covers :meth:`KeyPackage.tbs` (every field before it) under the
leaf's signature key; the init key is used once, for the Welcome (§12.4.3.1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from sottovoce.crypto import signing
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import SignedStruct
from sottovoce.mls.wire.extensions import Extension, read_extensions, write_extensions
from sottovoce.mls.wire.leaf_node import LeafNode

# §10: the SignWithLabel label of a KeyPackage.
KEY_PACKAGE_LABEL = "KeyPackageTBS"


@dataclass(frozen=True, slots=True)
class KeyPackage(SignedStruct):
    """§10 KeyPackage."""

    version: int
    cipher_suite: int
    init_key: bytes
    leaf_node: LeafNode
    extensions: tuple[Extension, ...] = ()
    signature: bytes = b""

    def encode_content(self, writer: Writer) -> None:
        writer.uint16(self.version).uint16(self.cipher_suite).vector(self.init_key)
        self.leaf_node.encode(writer)
        write_extensions(writer, self.extensions)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        version = reader.uint16("KeyPackage.version")
        cipher_suite = reader.uint16("KeyPackage.cipher_suite")
        init_key = reader.vector("KeyPackage.init_key")
        leaf_node = LeafNode.decode(reader)
        extensions = read_extensions(reader, "KeyPackage.extensions")
        signature = reader.vector("KeyPackage.signature")
        return cls(version, cipher_suite, init_key, leaf_node, extensions, signature)

    def tbs(self) -> bytes:
        """§10 KeyPackageTBS."""
        return self.content_bytes()

    def signed(self, suite: CipherSuite, key: signing.SigningKey) -> KeyPackage:
        return replace(self, signature=suite.sign_with_label(key, KEY_PACKAGE_LABEL, self.tbs()))

    def verify_signature(self, suite: CipherSuite) -> None:
        """§10.1: VerifyWithLabel under the leaf node's signature key; raises CryptoFailure."""
        suite.verify_with_label(
            self.leaf_node.signature_key, KEY_PACKAGE_LABEL, self.tbs(), self.signature
        )

    def ref(self, suite: CipherSuite) -> bytes:
        """§5.2 KeyPackageRef = MakeKeyPackageRef(KeyPackage)."""
        return suite.make_key_package_ref(bytes(self))
