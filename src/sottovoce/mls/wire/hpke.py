"""HPKECiphertext (RFC 9420 §5.1.3): the output of EncryptWithLabel on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import Struct


@dataclass(frozen=True, slots=True)
class HPKECiphertext(Struct):
    """§5.1.3 HPKECiphertext: the KEM encapsulation and the AEAD ciphertext."""

    kem_output: bytes
    ciphertext: bytes

    def encode(self, writer: Writer) -> None:
        writer.vector(self.kem_output).vector(self.ciphertext)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.vector("HPKECiphertext.kem_output"), reader.vector("HPKECiphertext.ciphertext")
        )
