"""Commit (RFC 9420 §12.4): the proposals it applies, inline or by reference, and
the optional UpdatePath that refreshes the committer's path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.wire.base import (
    Struct,
    read_enum,
    read_list,
    read_optional,
    write_list,
    write_optional,
)
from sottovoce.mls.wire.proposals import Proposal
from sottovoce.mls.wire.registry import ProposalOrRefType
from sottovoce.mls.wire.update_path import UpdatePath


@dataclass(frozen=True, slots=True)
class ProposalOrRef(Struct):
    """§12.4 ProposalOrRef: a proposal carried inline, or the ProposalRef of one sent before."""

    proposal: Proposal | None = None
    reference: bytes | None = None

    def __post_init__(self) -> None:
        if (self.proposal is None) == (self.reference is None):
            raise ValueError("ProposalOrRef: exactly one of proposal and reference")

    def encode(self, writer: Writer) -> None:
        if self.proposal is not None:
            writer.uint8(ProposalOrRefType.PROPOSAL)
            self.proposal.encode(writer)
        else:
            assert self.reference is not None
            writer.uint8(ProposalOrRefType.REFERENCE).vector(self.reference)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        kind = read_enum(reader, ProposalOrRefType, 1, "ProposalOrRef.type")
        if kind is ProposalOrRefType.PROPOSAL:
            return cls(proposal=Proposal.decode(reader))
        return cls(reference=reader.vector("ProposalOrRef.reference"))


@dataclass(frozen=True, slots=True)
class Commit(Struct):
    """§12.4 Commit."""

    proposals: tuple[ProposalOrRef, ...] = ()
    path: UpdatePath | None = None

    def encode(self, writer: Writer) -> None:
        write_list(writer, self.proposals)
        write_optional(writer, self.path)

    @classmethod
    def decode(cls, reader: Reader) -> Self:
        proposals = read_list(reader, ProposalOrRef.decode, "Commit.proposals")
        return cls(proposals, read_optional(reader, UpdatePath.decode, "Commit.path"))
