"""The hash-chained audit log of every legal request, verification and disclosure.

Entry ``n`` is canonical JSON carrying its own sequence number, and its hash is
``SHA-256("Sottovoce legal audit v1\\n" || hash(n-1) || entry(n))`` with 32 zero
bytes before the first entry, the chaining Certificate Transparency and
Git use. Editing any entry changes its hash and breaks every link after it;
deleting one leaves a gap in the sequence and a broken link. Cutting entries
off the end leaves a shorter, valid chain: that is caught by comparing against
a head published earlier (every transparency report carries the head, and
``sottovoce legal audit-verify --expect-head SEQ:HASH`` checks one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sottovoce.crypto import hashing
from sottovoce.protocol.public.legal import canonical_json
from sottovoce.storage.legal import AuditRow, LegalStore

GENESIS = bytes(32)
_CONTEXT = b"Sottovoce legal audit v1\n"

# Events, as the transparency report counts them.
REQUEST_REJECTED = "request-rejected"
REQUEST_VERIFIED = "request-verified"
DISCLOSURE = "disclosure"
PRESERVATION = "preservation"
NOTICE_DELIVERED = "notice-delivered"
AUTHORITY_ADDED = "authority-added"
AUTHORITY_REVOKED = "authority-revoked"


def chain_hash(prev_hash: bytes, entry: bytes) -> bytes:
    return hashing.sha256(_CONTEXT + prev_hash + entry)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AuditLog:
    def __init__(self, store: LegalStore) -> None:
        self._store = store

    async def append(self, event: str, at: datetime, **fields: Any) -> AuditRow:
        def entry_for(seq: int) -> bytes:
            return canonical_json({"seq": seq, "at": timestamp(at), "event": event, **fields})

        return await self._store.append_audit(
            int(at.timestamp() * 1000), entry_for, chain_hash, GENESIS
        )

    async def entries(self) -> list[dict[str, Any]]:
        return parsed_entries(await self._store.audit_rows())


def parsed_entries(rows: Sequence[AuditRow]) -> list[dict[str, Any]]:
    """The entries as JSON objects. One that no longer parses (an edit behind the
    server's back) is left out here; :func:`verify_chain` reports it."""
    entries = []
    for row in rows:
        try:
            entry = json.loads(row.entry)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


@dataclass
class ChainCheck:
    """What :func:`verify_chain` found; ``ok`` only if ``problems`` is empty."""

    entries: int = 0
    head_seq: int = 0
    head_hash: bytes = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def head(self) -> str:
        return f"{self.head_seq}:{self.head_hash.hex()}"


def verify_chain(rows: Sequence[AuditRow], expect_head: str | None = None) -> ChainCheck:
    """Recompute the chain over ``rows`` (in sequence order) and report each break."""
    check = ChainCheck(entries=len(rows))
    prev_hash, expected_seq = GENESIS, 1
    for row in rows:
        if row.seq != expected_seq:
            check.problems.append(
                f"entries {expected_seq}..{row.seq - 1} are missing (deleted)"
                if row.seq > expected_seq
                else f"entry {row.seq} is out of order"
            )
        try:
            entry = json.loads(row.entry)
            claimed_seq = entry.get("seq") if isinstance(entry, dict) else None
        except ValueError:
            claimed_seq = None
        if claimed_seq != row.seq:
            check.problems.append(f"entry {row.seq} does not carry its own sequence number")
        if row.prev_hash != prev_hash:
            check.problems.append(
                f"entry {row.seq} does not link to the entry before it (one was deleted or changed)"
            )
        if chain_hash(row.prev_hash, row.entry) != row.hash:
            check.problems.append(f"entry {row.seq} was edited: its hash does not match")
        # Continue from the stored hash, so one edited entry is reported once.
        prev_hash = row.hash
        expected_seq = row.seq + 1
        check.head_seq = row.seq
    check.head_hash = prev_hash
    if expect_head is not None:
        seq_text, _, hash_text = expect_head.partition(":")
        try:
            seq = int(seq_text)
        except ValueError:
            check.problems.append(f"the expected head {expect_head!r} is not SEQ:HASH")
            return check
        matching = [r for r in rows if r.seq == seq]
        if not matching:
            check.problems.append(f"the chain has no entry {seq}: entries were cut off the end")
        elif matching[0].hash.hex() != hash_text.lower():
            check.problems.append(f"entry {seq} is not the one published earlier")
    return check
