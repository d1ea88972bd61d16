"""GroupInfo (RFC 9420 §12.4.3): what a joiner needs to know about a group's epoch,
signed by the member at ``signer``. It travels encrypted in a Welcome, or in the
clear for external joins (§12.4.3.2)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from sottovoce.crypto import signing
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import SignedStruct
from sottovoce.mls.wire.extensions import Extension, read_extensions, write_extensions
from sottovoce.mls.wire.group_context import GroupContext

# §12.4.3: the SignWithLabel label of a GroupInfo.
GROUP_INFO_LABEL = "GroupInfoTBS"


@dataclass(frozen=True, slots=True)
class GroupInfo(SignedStruct):
    """§12.4.3 GroupInfo."""

    group_context: GroupContext
    extensions: tuple[Extension, ...]
    confirmation_tag: bytes
    signer: int
    signature: bytes = b""

    def encode_content(self, writer: Writer) -> None:
        self.group_context.encode(writer)
        write_extensions(writer, self.extensions)
        writer.vector(self.confirmation_tag).uint32(self.signer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            GroupContext.decode(reader),
            read_extensions(reader, "GroupInfo.extensions"),
            reader.vector("GroupInfo.confirmation_tag"),
            reader.uint32("GroupInfo.signer"),
            reader.vector("GroupInfo.signature"),
        )

    def tbs(self) -> bytes:
        """§12.4.3 GroupInfoTBS: every field but the signature."""
        return self.content_bytes()

    def signed(self, suite: CipherSuite, key: signing.SigningKey) -> GroupInfo:
        return replace(self, signature=suite.sign_with_label(key, GROUP_INFO_LABEL, self.tbs()))

    def verify_signature(self, suite: CipherSuite, signer_key: bytes) -> None:
        """§12.4.3.1: VerifyWithLabel under the signer leaf's key; raises CryptoFailure."""
        suite.verify_with_label(signer_key, GROUP_INFO_LABEL, self.tbs(), self.signature)
