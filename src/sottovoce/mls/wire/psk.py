"""PreSharedKeyID (RFC 9420 §8.4): names one PSK and the nonce binding it to one use.

PreSharedKey proposals (§12.1.4) and GroupSecrets (§12.4.3.1) carry it; the
psk_secret computation over a list of them is :mod:`sottovoce.mls.psk`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Self

from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError, ValidationError
from sottovoce.mls.wire.base import Struct


class PskType(enum.IntEnum):
    """§8.4 PSKType."""

    EXTERNAL = 1
    RESUMPTION = 2


class ResumptionPskUsage(enum.IntEnum):
    """§8.4 ResumptionPSKUsage: why a resumption PSK is injected."""

    APPLICATION = 1
    REINIT = 2
    BRANCH = 3


@dataclass(frozen=True, slots=True)
class PreSharedKeyId(Struct):
    """§8.4 PreSharedKeyID.

    An external PSK is named by ``psk_id``; a resumption PSK by ``usage``, the group
    it comes from (``psk_group_id``) and the epoch whose ``resumption_psk`` it is.
    """

    psk_type: PskType
    psk_nonce: bytes
    psk_id: bytes = b""
    usage: ResumptionPskUsage = ResumptionPskUsage.APPLICATION
    psk_group_id: bytes = b""
    psk_epoch: int = 0

    @classmethod
    def external(cls, psk_id: bytes, psk_nonce: bytes) -> PreSharedKeyId:
        return cls(PskType.EXTERNAL, psk_nonce, psk_id=psk_id)

    @classmethod
    def resumption(
        cls, usage: ResumptionPskUsage, group_id: bytes, epoch: int, psk_nonce: bytes
    ) -> PreSharedKeyId:
        return cls(
            PskType.RESUMPTION, psk_nonce, usage=usage, psk_group_id=group_id, psk_epoch=epoch
        )

    def encode(self, writer: Writer) -> None:
        writer.uint8(self.psk_type)
        if self.psk_type is PskType.EXTERNAL:
            writer.vector(self.psk_id)
        else:
            writer.uint8(self.usage).vector(self.psk_group_id).uint64(self.psk_epoch)
        writer.vector(self.psk_nonce)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        raw_type = reader.uint8("PreSharedKeyID.psktype")
        if raw_type == PskType.EXTERNAL:
            psk_id = reader.vector("PreSharedKeyID.psk_id")
            return cls(PskType.EXTERNAL, reader.vector("PreSharedKeyID.psk_nonce"), psk_id=psk_id)
        if raw_type == PskType.RESUMPTION:
            raw_usage = reader.uint8("PreSharedKeyID.usage")
            try:
                usage = ResumptionPskUsage(raw_usage)
            except ValueError:
                raise DecodeError(
                    f"PreSharedKeyID: unknown ResumptionPSKUsage {raw_usage}"
                ) from None
            group_id = reader.vector("PreSharedKeyID.psk_group_id")
            epoch = reader.uint64("PreSharedKeyID.psk_epoch")
            nonce = reader.vector("PreSharedKeyID.psk_nonce")
            return cls(
                PskType.RESUMPTION, nonce, usage=usage, psk_group_id=group_id, psk_epoch=epoch
            )
        raise DecodeError(f"PreSharedKeyID: unknown PSKType {raw_type}")

    def validate_nonce(self, suite: CipherSuite) -> None:
        """§12.1.4: a psk_nonce is a fresh random value of exactly KDF.Nh bytes."""
        if len(self.psk_nonce) != suite.hash_len:
            raise ValidationError(
                f"RFC 9420 §12.1.4: psk_nonce must be {suite.hash_len} bytes, "
                f"got {len(self.psk_nonce)}"
            )
