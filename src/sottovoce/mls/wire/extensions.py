"""Extensions (RFC 9420 §13) and the payloads of those the RFC defines (§17.3).

An :class:`Extension` keeps its data opaque, so extensions this engine does not
know round-trip untouched; the typed payloads decode from ``extension_data`` on
demand. The ratchet_tree extension's payload is :class:`~sottovoce.mls.wire.tree.RatchetTreeNodes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError
from sottovoce.mls.wire.base import (
    Struct,
    read_list,
    read_uint16_list,
    write_list,
    write_uint16_list,
)
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.registry import ExtensionType


@dataclass(frozen=True, slots=True)
class Extension(Struct):
    """§13 Extension: a type and opaque data."""

    extension_type: int
    extension_data: bytes

    def encode(self, writer: Writer) -> None:
        writer.uint16(self.extension_type).vector(self.extension_data)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.uint16("Extension.extension_type"), reader.vector("Extension.extension_data")
        )


def write_extensions(writer: Writer, extensions: Sequence[Extension]) -> None:
    write_list(writer, extensions)


def read_extensions(reader: Reader, what: str) -> tuple[Extension, ...]:
    """``Extension extensions<V>``; §13: a list MUST NOT hold one type twice."""
    extensions = read_list(reader, Extension.decode, what)
    types = [extension.extension_type for extension in extensions]
    if len(set(types)) != len(types):
        raise DecodeError(f"{what}: an extension type appears more than once (RFC 9420 §13)")
    return extensions


def find_extension(extensions: Sequence[Extension], extension_type: int) -> Extension | None:
    for extension in extensions:
        if extension.extension_type == extension_type:
            return extension
    return None


@dataclass(frozen=True, slots=True)
class ApplicationId(Struct):
    """§5.3.3 application_id: an application-chosen identifier for a leaf."""

    application_id: bytes

    def encode(self, writer: Writer) -> None:
        writer.vector(self.application_id)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.vector("ApplicationId.application_id"))


@dataclass(frozen=True, slots=True)
class RequiredCapabilities(Struct):
    """§11.1 required_capabilities: what every member must support."""

    extension_types: tuple[int, ...] = ()
    proposal_types: tuple[int, ...] = ()
    credential_types: tuple[int, ...] = ()

    def encode(self, writer: Writer) -> None:
        write_uint16_list(writer, self.extension_types)
        write_uint16_list(writer, self.proposal_types)
        write_uint16_list(writer, self.credential_types)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            read_uint16_list(reader, "RequiredCapabilities.extension_types"),
            read_uint16_list(reader, "RequiredCapabilities.proposal_types"),
            read_uint16_list(reader, "RequiredCapabilities.credential_types"),
        )


@dataclass(frozen=True, slots=True)
class ExternalPub(Struct):
    """§12.4.3.2 external_pub: the HPKE key external joiners encrypt their init secret to."""

    external_pub: bytes

    def encode(self, writer: Writer) -> None:
        writer.vector(self.external_pub)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.vector("ExternalPub.external_pub"))


@dataclass(frozen=True, slots=True)
class ExternalSender(Struct):
    """§12.1.8.1 ExternalSender: a non-member allowed to send proposals."""

    signature_key: bytes
    credential: Credential

    def encode(self, writer: Writer) -> None:
        writer.vector(self.signature_key)
        self.credential.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.vector("ExternalSender.signature_key"), Credential.decode(reader))


@dataclass(frozen=True, slots=True)
class ExternalSenders(Struct):
    """§12.1.8.1 external_senders extension: ``ExternalSender external_senders<V>``."""

    external_senders: tuple[ExternalSender, ...]

    def encode(self, writer: Writer) -> None:
        write_list(writer, self.external_senders)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(read_list(reader, ExternalSender.decode, "ExternalSenders"))


def typed_extension(extension_type: ExtensionType, payload: Struct) -> Extension:
    """An :class:`Extension` of ``extension_type`` carrying an encoded payload."""
    return Extension(extension_type, bytes(payload))
