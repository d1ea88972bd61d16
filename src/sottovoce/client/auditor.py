"""An independent auditor of the transparency log: it needs no account.

It follows the whole log (docs/transparency.md, "What an auditor verifies"):
every head must be signed by the pinned log key, consistent with the previous
one by the server's consistency proof (RFC 9162 §2.1.4.2), and equal to the
root the auditor computes itself from every entry (``LogFollower``); every
entry must parse, and each account commitment's device-list versions only grow.

Heads anyone else verified (a client's, another auditor's) can be handed to
:meth:`LogAuditor.compare`: CONIKS's auditors and CT's gossip draft
(draft-ietf-trans-gossip) cross-check signed heads exactly so, since a log that
shows different histories to different parties is consistent within each one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from sottovoce.client import server_json as sj
from sottovoce.client.errors import MalformedResponse, NetworkError, SecurityError
from sottovoce.client.head_gossip import ForeignLogHead, MalformedGossip
from sottovoce.client.transport import tls_context
from sottovoce.protocol.errors import ProtocolError, VerificationError
from sottovoce.protocol.log_follower import LogFollower
from sottovoce.protocol.public.merkle import ConsistencyProof
from sottovoce.protocol.public.transparency_entry import DeviceListEntry, parse_entry
from sottovoce.protocol.public.tree_head import (
    SignedTreeHead,
    parse_signed_tree_head,
    verify_consistent_heads,
)

_PAGE = 1000
_TIMEOUT_S = 15.0


class ForkedView(SecurityError):
    """A head someone else holds contradicts the log this auditor follows."""

    def __init__(self, detail: str, evidence: tuple[bytes, bytes]) -> None:
        super().__init__(detail)
        # The auditor's head and the other one: two signed heads, checkable by anyone.
        self.evidence = evidence


@dataclass(frozen=True, slots=True)
class AuditedHead:
    head: SignedTreeHead
    previous_epoch: int | None


class LogAuditor:
    def __init__(self, server_url: str, log_key: bytes | None = None) -> None:
        self._http = httpx.AsyncClient(
            base_url=server_url.rstrip("/"), timeout=_TIMEOUT_S, verify=tls_context()
        )
        self.log_key = log_key
        self._held: SignedTreeHead | None = None
        self._follower = LogFollower()
        self._versions: dict[bytes, int] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str) -> dict[str, object]:
        try:
            response = await self._http.get(path)
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach the server: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise NetworkError(f"GET {path} answered {response.status_code}")
        try:
            return sj.as_object(response.json(), path)
        except ValueError as exc:
            raise MalformedResponse(f"the answer to {path} is not JSON") from exc

    async def check(self) -> AuditedHead:
        """Fetch the newest head and verify it against everything seen before."""
        answer = await self._get("/v1/transparency/head")
        served_key = sj.binary(answer, "log_key", "head")
        if self.log_key is None:
            self.log_key = served_key
        elif served_key != self.log_key:
            raise SecurityError("the server now names another log key")
        try:
            head = parse_signed_tree_head(sj.binary(answer, "head", "head"), self.log_key)
        except ProtocolError as exc:
            raise SecurityError(f"the tree head fails: {exc}") from exc
        previous = self._held
        if previous is not None and head.head != previous.head:
            proof = await self._get(
                "/v1/transparency/consistency"
                f"?first={min(previous.tree_size, head.tree_size)}"
                f"&second={max(previous.tree_size, head.tree_size)}"
            )
            try:
                verify_consistent_heads(
                    previous, head, ConsistencyProof.from_bytes(sj.binary(proof, "proof", "proof"))
                )
            except ProtocolError as exc:
                raise SecurityError(
                    f"epoch {head.epoch} is not consistent with epoch {previous.epoch}: {exc}"
                ) from exc
        await self._follow(head)
        self._held = head
        return AuditedHead(head, None if previous is None else previous.epoch)

    async def compare(self, data: bytes) -> None:
        """Check a signed head someone else verified against this auditor's view.

        A newer one is first followed to (:meth:`check`); then the two must be one log
        (RFC 9162 §2.1.4), else :class:`ForkedView` with both heads. Bytes that are not
        a signed tree head are :class:`MalformedGossip`; a head the log key did not sign
        is :class:`ForeignLogHead` (a head of another log)."""
        if self._held is None:
            await self.check()
        log_key = self.log_key
        if log_key is None or self._held is None:
            raise SecurityError("the auditor has no head of its own to compare with")
        try:
            head = parse_signed_tree_head(data, log_key)
        except VerificationError as exc:
            raise ForeignLogHead(
                "the head to compare is not signed by the log key this auditor follows: "
                "it is a head of another log"
            ) from exc
        except ProtocolError as exc:
            raise MalformedGossip(f"the head to compare fails: {exc}") from exc
        if head.epoch > self._held.epoch:
            await self.check()
        held = self._held
        if head.head == held.head:
            return
        small, large = sorted((held.tree_size, head.tree_size))
        try:
            if small == large:
                proof = ConsistencyProof(small, large, ())
            else:
                answer = await self._get(
                    f"/v1/transparency/consistency?first={small}&second={large}"
                )
                proof = ConsistencyProof.from_bytes(sj.binary(answer, "proof", "proof"))
            verify_consistent_heads(held, head, proof)
        except ProtocolError as exc:
            raise ForkedView(
                f"the head {head.describe()} contradicts {held.describe()}, which this "
                f"auditor followed: {exc}",
                (held.to_bytes(), head.to_bytes()),
            ) from exc

    async def _follow(self, head: SignedTreeHead) -> None:
        while self._follower.size < head.tree_size:
            start = self._follower.size
            end = min(head.tree_size, start + _PAGE)
            page = await self._get(f"/v1/transparency/entries?start={start}&end={end}")
            entries = [
                sj.unb64(str(e), "entries")
                for e in sj.as_list(sj.field(page, "entries", "entries"), "entries")
            ][: end - start]
            if not entries:
                raise MalformedResponse("the server returned no log entries")
            for raw in entries:
                try:
                    entry = parse_entry(raw)
                except ProtocolError as exc:
                    raise SecurityError(f"log entry {self._follower.size} fails: {exc}") from exc
                if isinstance(entry, DeviceListEntry):
                    if entry.version <= self._versions.get(entry.account, 0):
                        raise SecurityError(
                            f"log entry {self._follower.size} logs device list version "
                            f"{entry.version} after a later one of the same account"
                        )
                    self._versions[entry.account] = entry.version
                self._follower.extend([raw])
        if self._follower.root() != head.root_hash:
            raise SecurityError(
                f"the entries do not add up to the root of epoch {head.epoch}: the log changed"
            )

    async def follow(self, rounds: int, interval_s: float) -> AsyncIterator[AuditedHead]:
        for i in range(rounds):
            if i:
                await asyncio.sleep(interval_s)
            yield await self.check()
