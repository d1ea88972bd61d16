"""Welcome and GroupSecrets (RFC 9420 §12.4.3.1): the secrets a new member needs,
encrypted to its KeyPackage init key, and the encrypted GroupInfo they open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import Struct, read_list, read_optional, write_list, write_optional
from sottovoce.mls.wire.hpke import HPKECiphertext
from sottovoce.mls.wire.psk import PreSharedKeyId


@dataclass(frozen=True, slots=True, repr=False)
class PathSecret(Struct):
    """§12.4.3.1 PathSecret: the secret of the lowest node the joiner shares with the
    committer."""

    path_secret: bytes

    def __repr__(self) -> str:
        return "PathSecret(<secret>)"

    def encode(self, writer: Writer) -> None:
        writer.vector(self.path_secret)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.vector("PathSecret.path_secret"))


@dataclass(frozen=True, slots=True, repr=False)
class GroupSecrets(Struct):
    """§12.4.3.1 GroupSecrets. Its repr shows no secret."""

    joiner_secret: bytes
    path_secret: PathSecret | None = None
    psks: tuple[PreSharedKeyId, ...] = ()

    def __repr__(self) -> str:
        return f"GroupSecrets(path_secret={self.path_secret is not None}, psks={len(self.psks)})"

    def encode(self, writer: Writer) -> None:
        writer.vector(self.joiner_secret)
        write_optional(writer, self.path_secret)
        write_list(writer, self.psks)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.vector("GroupSecrets.joiner_secret"),
            read_optional(reader, PathSecret.decode, "GroupSecrets.path_secret"),
            read_list(reader, PreSharedKeyId.decode, "GroupSecrets.psks"),
        )


@dataclass(frozen=True, slots=True)
class EncryptedGroupSecrets(Struct):
    """§12.4.3.1 EncryptedGroupSecrets: GroupSecrets for the KeyPackage ``new_member``."""

    new_member: bytes
    encrypted_group_secrets: HPKECiphertext

    def encode(self, writer: Writer) -> None:
        writer.vector(self.new_member)
        self.encrypted_group_secrets.encode(writer)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(reader.vector("EncryptedGroupSecrets.new_member"), HPKECiphertext.decode(reader))


@dataclass(frozen=True, slots=True)
class Welcome(Struct):
    """§12.4.3.1 Welcome."""

    cipher_suite: int
    secrets: tuple[EncryptedGroupSecrets, ...]
    encrypted_group_info: bytes

    def encode(self, writer: Writer) -> None:
        writer.uint16(self.cipher_suite)
        write_list(writer, self.secrets)
        writer.vector(self.encrypted_group_info)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        return cls(
            reader.uint16("Welcome.cipher_suite"),
            read_list(reader, EncryptedGroupSecrets.decode, "Welcome.secrets"),
            reader.vector("Welcome.encrypted_group_info"),
        )

    def secrets_for(self, key_package_ref: bytes) -> EncryptedGroupSecrets | None:
        """The entry addressed to the KeyPackage with this reference, if any."""
        for entry in self.secrets:
            if entry.new_member == key_package_ref:
                return entry
        return None
