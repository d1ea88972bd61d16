"""MLSMessage (RFC 9420 §6): the envelope of everything MLS sends, tagged by wire format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError
from sottovoce.mls.wire.base import Struct, read_enum
from sottovoce.mls.wire.framing import PrivateMessage, PublicMessage
from sottovoce.mls.wire.group_info import GroupInfo
from sottovoce.mls.wire.key_package import KeyPackage
from sottovoce.mls.wire.registry import ProtocolVersion, WireFormat
from sottovoce.mls.wire.welcome import Welcome

MessageBody = PublicMessage | PrivateMessage | Welcome | GroupInfo | KeyPackage

_BODY_TYPES: dict[WireFormat, type[MessageBody]] = {
    WireFormat.PUBLIC_MESSAGE: PublicMessage,
    WireFormat.PRIVATE_MESSAGE: PrivateMessage,
    WireFormat.WELCOME: Welcome,
    WireFormat.GROUP_INFO: GroupInfo,
    WireFormat.KEY_PACKAGE: KeyPackage,
}
_FORMAT_OF_BODY = {body: wire_format for wire_format, body in _BODY_TYPES.items()}


@dataclass(frozen=True, slots=True)
class MLSMessage(Struct):
    """§6 MLSMessage: ``version``, ``wire_format``, then the body that format names."""

    body: MessageBody
    version: int = ProtocolVersion.MLS10

    @property
    def wire_format(self) -> WireFormat:
        return _FORMAT_OF_BODY[type(self.body)]

    def encode(self, writer: Writer) -> None:
        writer.raw(bytes(self))

    def __bytes__(self) -> bytes:
        return b"".join(
            (
                self.version.to_bytes(2, "big"),
                _FORMAT_OF_BODY[type(self.body)].to_bytes(2, "big"),
                bytes(self.body),
            )
        )

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        version = reader.uint16("MLSMessage.version")
        if version != ProtocolVersion.MLS10:
            raise DecodeError(f"MLSMessage.version: {version} is not mls10")
        wire_format = read_enum(reader, WireFormat, 2, "MLSMessage.wire_format")
        return cls(_BODY_TYPES[wire_format].decode(reader), version)
