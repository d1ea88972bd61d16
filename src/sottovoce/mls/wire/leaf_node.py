"""LeafNode (RFC 9420 §7.2): a member's keys, credential, capabilities and signature.

The signature covers :meth:`LeafNode.tbs`: the fields before it and, for leaves
made by an Update or a Commit, the group and leaf index they belong to, so a leaf
cannot be replayed into another group or position. Checking a leaf against a group
(§7.3) is :mod:`sottovoce.mls.leaf_validation`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from sottovoce.crypto import signing
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import (
    SignedStruct,
    Struct,
    read_enum,
    read_uint16_list,
    write_uint16_list,
)
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.extensions import Extension, read_extensions, write_extensions
from sottovoce.mls.wire.registry import LeafNodeSource

# §7.2: the SignWithLabel label of a LeafNode.
LEAF_NODE_LABEL = "LeafNodeTBS"


@dataclass(frozen=True, slots=True)
class Capabilities(Struct):
    """§7.2 Capabilities: what the client behind a leaf supports (values kept as ints)."""

    versions: tuple[int, ...] = ()
    cipher_suites: tuple[int, ...] = ()
    extensions: tuple[int, ...] = ()
    proposals: tuple[int, ...] = ()
    credentials: tuple[int, ...] = ()

    def encode(self, writer: Writer) -> None:
        write_uint16_list(writer, self.versions)
        write_uint16_list(writer, self.cipher_suites)
        write_uint16_list(writer, self.extensions)
        write_uint16_list(writer, self.proposals)
        write_uint16_list(writer, self.credentials)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            read_uint16_list(reader, "Capabilities.versions"),
            read_uint16_list(reader, "Capabilities.cipher_suites"),
            read_uint16_list(reader, "Capabilities.extensions"),
            read_uint16_list(reader, "Capabilities.proposals"),
            read_uint16_list(reader, "Capabilities.credentials"),
        )


@dataclass(frozen=True, slots=True)
class Lifetime(Struct):
    """§7.2 Lifetime: seconds since the Unix epoch, both bounds inclusive."""

    not_before: int
    not_after: int

    def encode(self, writer: Writer) -> None:
        writer.uint64(self.not_before).uint64(self.not_after)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.uint64("Lifetime.not_before"), reader.uint64("Lifetime.not_after"))


@dataclass(frozen=True, slots=True)
class LeafNode(SignedStruct):
    """§7.2 LeafNode. ``lifetime`` is set exactly for key_package leaves and
    ``parent_hash`` is meaningful exactly for commit leaves."""

    encryption_key: bytes
    signature_key: bytes
    credential: Credential
    capabilities: Capabilities
    leaf_node_source: LeafNodeSource
    lifetime: Lifetime | None = None
    parent_hash: bytes = b""
    extensions: tuple[Extension, ...] = ()
    signature: bytes = b""

    def __post_init__(self) -> None:
        if (self.lifetime is not None) != (self.leaf_node_source is LeafNodeSource.KEY_PACKAGE):
            raise ValueError("LeafNode: a lifetime belongs to key_package leaves only")

    def encode_content(self, writer: Writer) -> None:
        writer.vector(self.encryption_key).vector(self.signature_key)
        self.credential.encode(writer)
        self.capabilities.encode(writer)
        writer.uint8(self.leaf_node_source)
        if self.leaf_node_source is LeafNodeSource.KEY_PACKAGE:
            assert self.lifetime is not None
            self.lifetime.encode(writer)
        elif self.leaf_node_source is LeafNodeSource.COMMIT:
            writer.vector(self.parent_hash)
        write_extensions(writer, self.extensions)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        encryption_key = reader.vector("LeafNode.encryption_key")
        signature_key = reader.vector("LeafNode.signature_key")
        credential = Credential.decode(reader)
        capabilities = Capabilities.decode(reader)
        source = read_enum(reader, LeafNodeSource, 1, "LeafNode.leaf_node_source")
        lifetime = Lifetime.decode(reader) if source is LeafNodeSource.KEY_PACKAGE else None
        parent_hash = (
            reader.vector("LeafNode.parent_hash") if source is LeafNodeSource.COMMIT else b""
        )
        extensions = read_extensions(reader, "LeafNode.extensions")
        signature = reader.vector("LeafNode.signature")
        return cls(
            encryption_key,
            signature_key,
            credential,
            capabilities,
            source,
            lifetime,
            parent_hash,
            extensions,
            signature,
        )

    def tbs(self, group_id: bytes | None = None, leaf_index: int | None = None) -> bytes:
        """§7.2 LeafNodeTBS. Update and commit leaves name their group and leaf index."""
        writer = Writer()
        self.encode_content(writer)
        if self.leaf_node_source is not LeafNodeSource.KEY_PACKAGE:
            if group_id is None or leaf_index is None:
                raise ValueError(
                    f"LeafNodeTBS: a {self.leaf_node_source.name} leaf needs its group and index"
                )
            writer.vector(group_id).uint32(leaf_index)
        return bytes(writer)

    def signed(
        self,
        suite: CipherSuite,
        key: signing.SigningKey,
        group_id: bytes | None = None,
        leaf_index: int | None = None,
    ) -> LeafNode:
        """This leaf with ``signature`` = SignWithLabel(., "LeafNodeTBS", LeafNodeTBS)."""
        return replace(
            self,
            signature=suite.sign_with_label(key, LEAF_NODE_LABEL, self.tbs(group_id, leaf_index)),
        )

    def verify_signature(
        self, suite: CipherSuite, group_id: bytes | None = None, leaf_index: int | None = None
    ) -> None:
        """§7.3: VerifyWithLabel under the leaf's own signature key; raises CryptoFailure."""
        suite.verify_with_label(
            self.signature_key, LEAF_NODE_LABEL, self.tbs(group_id, leaf_index), self.signature
        )
