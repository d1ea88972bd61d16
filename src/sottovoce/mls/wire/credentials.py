"""Credential (RFC 9420 §5.3): what binds a leaf's signature key to an identity.

A basic credential carries the identity bytes alone (the application vouches for
the key, §5.3.1); an X.509 credential carries a certificate chain, leaf first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import Struct, read_enum, read_list, write_list
from sottovoce.mls.wire.registry import CredentialType


@dataclass(frozen=True, slots=True)
class Certificate(Struct):
    """§5.3 Certificate: one DER certificate of an X.509 chain."""

    cert_data: bytes

    def encode(self, writer: Writer) -> None:
        writer.vector(self.cert_data)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.vector("Certificate.cert_data"))


@dataclass(frozen=True, slots=True)
class Credential(Struct):
    """§5.3 Credential: ``identity`` for basic, ``certificates`` for x509."""

    credential_type: CredentialType
    identity: bytes = b""
    certificates: tuple[Certificate, ...] = ()

    @classmethod
    def basic(cls, identity: bytes) -> Credential:
        return cls(CredentialType.BASIC, identity=identity)

    def encode(self, writer: Writer) -> None:
        writer.uint16(self.credential_type)
        if self.credential_type is CredentialType.BASIC:
            writer.vector(self.identity)
        else:
            write_list(writer, self.certificates)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        kind = read_enum(reader, CredentialType, 2, "Credential.credential_type")
        if kind is CredentialType.BASIC:
            return cls(kind, identity=reader.vector("Credential.identity"))
        return cls(
            kind, certificates=read_list(reader, Certificate.decode, "Credential.certificates")
        )
