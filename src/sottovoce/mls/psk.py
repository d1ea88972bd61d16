"""Pre-shared keys: their identifiers and the psk_secret they feed into the key schedule.

RFC 9420 §8.4 defines ``PreSharedKeyID`` and the chained extraction that turns the
PSKs of a commit or Welcome into one ``psk_secret``. The PreSharedKey proposal
(§12.1.4) and GroupSecrets (§12.4.3.1) carry ``PreSharedKeyID`` values, so the
structure and its codec live here, beside the only computation that reads them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError, ValidationError

# §8.4 PSKLabel: index and count are uint16, so one epoch can mix in at most this
# many PSKs.
MAX_PSKS = 0xFFFF


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
class PreSharedKeyId:
    """§8.4 PreSharedKeyID: names one PSK and carries the nonce that binds it to this use.

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

    def encode(self, writer: Writer) -> Writer:
        writer.uint8(self.psk_type)
        if self.psk_type is PskType.EXTERNAL:
            writer.vector(self.psk_id)
        else:
            writer.uint8(self.usage).vector(self.psk_group_id).uint64(self.psk_epoch)
        return writer.vector(self.psk_nonce)

    def __bytes__(self) -> bytes:
        return bytes(self.encode(Writer()))

    @classmethod
    def decode(cls, reader: Reader) -> PreSharedKeyId:
        raw_type = reader.uint8("PreSharedKeyID.psktype")
        if raw_type == PskType.EXTERNAL:
            psk_id = reader.vector("PreSharedKeyID.psk_id")
            return cls.external(psk_id, reader.vector("PreSharedKeyID.psk_nonce"))
        if raw_type == PskType.RESUMPTION:
            raw_usage = reader.uint8("PreSharedKeyID.usage")
            try:
                usage = ResumptionPskUsage(raw_usage)
            except ValueError as exc:
                raise DecodeError(
                    f"PreSharedKeyID: unknown ResumptionPSKUsage {raw_usage}"
                ) from exc
            group_id = reader.vector("PreSharedKeyID.psk_group_id")
            epoch = reader.uint64("PreSharedKeyID.psk_epoch")
            nonce = reader.vector("PreSharedKeyID.psk_nonce")
            return cls.resumption(usage, group_id, epoch, nonce)
        raise DecodeError(f"PreSharedKeyID: unknown PSKType {raw_type}")

    def validate_nonce(self, suite: CipherSuite) -> None:
        """§12.1.4: a psk_nonce is a fresh random value of exactly KDF.Nh bytes."""
        if len(self.psk_nonce) != suite.hash_len:
            raise ValidationError(
                f"RFC 9420 §12.1.4: psk_nonce must be {suite.hash_len} bytes, "
                f"got {len(self.psk_nonce)}"
            )


def psk_secret(suite: CipherSuite, psks: Sequence[tuple[PreSharedKeyId, bytes]]) -> bytes:
    """§8.4: fold ``(id, psk)`` pairs, in order, into the epoch's psk_secret.

    With no PSKs the result is Nh zero bytes, the "0" input of the §8 key schedule.
    """
    if len(psks) > MAX_PSKS:
        raise ValidationError(f"RFC 9420 §8.4: at most {MAX_PSKS} PSKs, got {len(psks)}")
    zero = bytes(suite.hash_len)
    secret = zero
    count = len(psks)
    for index, (psk_id, psk) in enumerate(psks):
        psk_extracted = suite.extract(zero, psk)
        psk_label = bytes(psk_id.encode(Writer()).uint16(index).uint16(count))
        psk_input = suite.expand_with_label(psk_extracted, "derived psk", psk_label, suite.hash_len)
        secret = suite.extract(psk_input, secret)
    return secret
