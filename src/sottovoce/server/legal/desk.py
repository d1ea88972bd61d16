"""The legal desk: one entry point for every legal request, from the API or the CLI.

``submit`` takes the document's bytes and returns the outcome; every step lands
in the audit chain first (received and rejected with the reason, or verified,
then the disclosure or preservation). ``deliver_due_notices`` sends the signed
operator notices whose non-disclosure period has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sottovoce.crypto import hashing, signing
from sottovoce.protocol.public.legal import canonical_json, sign_notice
from sottovoce.server.legal import audit
from sottovoce.server.legal.compellability import ProcessType
from sottovoce.server.legal.documents import RequestDocument, parse_document
from sottovoce.server.legal.errors import Rejected
from sottovoce.server.legal.operator_key import load_or_create
from sottovoce.server.legal.package import Built, build_package, day_iso
from sottovoce.server.legal.policy import LegalPolicy, load_policy
from sottovoce.server.legal.rendering import render_package_html
from sottovoce.server.legal.verification import verify
from sottovoce.storage.legal import LegalStore

log = logging.getLogger("sottovoce.server.legal")

NOTICE_STATEMENT = (
    "This notice is from the operator of this service, signed with its key. It is "
    "authenticated but not end-to-end encrypted: the operator wrote it and can read it. "
    "No message content was disclosed, because the operator has none to disclose."
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the desk did with one document."""

    accepted: bool
    status: int
    reason: str | None = None
    detail: str | None = None
    package: dict[str, Any] | None = None
    html: str | None = None

    @classmethod
    def rejected(cls, exc: Rejected) -> Outcome:
        return cls(False, exc.status, exc.reason.value, exc.detail)


DEFAULT_DIRECTORY = Path("sottovoce-legal")


def _now() -> datetime:
    return datetime.now(UTC)


def legal_directory(db_url: str, configured: Path | None) -> Path:
    """Where the operator key and policy live: as configured, else ``legal`` beside
    a SQLite database file, else ``./sottovoce-legal``."""
    if configured is not None:
        return configured
    if db_url.startswith("sqlite") and ":///" in db_url:
        path = db_url.split(":///", 1)[1]
        if path and ":memory:" not in path:
            return Path(path).parent / "legal"
    return DEFAULT_DIRECTORY


class LegalDesk:
    def __init__(
        self,
        store: LegalStore,
        policy: LegalPolicy,
        operator_key: signing.SigningKey | Callable[[], signing.SigningKey],
        retention_days: int,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.policy = policy
        self._operator_key = operator_key
        self.retention_days = retention_days
        self.audit = audit.AuditLog(store)
        self._clock = clock

    @classmethod
    def open(cls, store: LegalStore, directory: Path, retention_days: int) -> LegalDesk:
        """The desk of a legal directory. Its key is read (or made) when first needed,
        so a server that never answers a request writes nothing there."""
        return cls(store, load_policy(directory), lambda: load_or_create(directory), retention_days)

    @property
    def operator_key(self) -> signing.SigningKey:
        if not isinstance(self._operator_key, signing.SigningKey):
            self._operator_key = self._operator_key()
        return self._operator_key

    async def submit(self, data: bytes) -> Outcome:
        now = self._clock()
        document: RequestDocument | None = None
        try:
            document = parse_document(data)
            verified = await verify(document, self.store, self.policy, now)
        except Rejected as exc:
            await self.audit.append(
                audit.REQUEST_REJECTED,
                now,
                reason=exc.reason.value,
                detail=exc.detail,
                document_sha256=hashing.sha256(data).hex(),
                document_bytes=len(data),
                **_claimed(document),
                country=await self._country(document),
            )
            return Outcome.rejected(exc)
        doc = verified.document
        await self.audit.append(
            audit.REQUEST_VERIFIED,
            now,
            request_id=doc.request_id,
            process_type=doc.process_type.value,
            authority=verified.issuer.id,
            country=verified.issuer.country,
            judicial_authority=verified.judicial.id if verified.judicial else None,
            agreement=doc.agreement,
            accounts=[a.address for a in doc.accounts],
            categories=[c.value for c in doc.categories],
            emergency=doc.process_type is ProcessType.EMERGENCY,
            non_disclosure_until=(
                doc.non_disclosure_until.isoformat() if doc.non_disclosure_until else None
            ),
        )
        built = await build_package(
            verified, self.store, self.operator_key, now, self.retention_days
        )
        await self._record(built, verified.issuer.country, doc, now)
        return Outcome(True, 200, package=built.document, html=render_package_html(built.document))

    async def _record(
        self, built: Built, country: str, doc: RequestDocument, now: datetime
    ) -> None:
        names = [(a.app, a.handle) for a in doc.accounts]
        package_hash = hashing.sha256(canonical_json(built.document)).hex()
        today = int(now.timestamp() // 86_400)
        if built.preserved_until is not None:
            await self.store.preserve(
                doc.request_id, built.snapshots, built.preserved_until, taken_day=today
            )
            await self.audit.append(
                audit.PRESERVATION,
                now,
                request_id=doc.request_id,
                country=country,
                accounts=[a.address for a in doc.accounts],
                until=day_iso(built.preserved_until),
                package_sha256=package_hash,
            )
        else:
            await self.audit.append(
                audit.DISCLOSURE,
                now,
                request_id=doc.request_id,
                process_type=doc.process_type.value,
                country=country,
                kind=built.kind,
                accounts_named=len(doc.accounts),
                produced=built.produced,
                package_sha256=package_hash,
            )
        due = today
        if doc.non_disclosure_until is not None:
            due = max(today, (doc.non_disclosure_until - datetime(1970, 1, 1).date()).days + 1)
        await self.store.schedule_notices(doc.request_id, names, due)

    async def _country(self, document: RequestDocument | None) -> str | None:
        if document is None:
            return None
        authority = await self.store.authority(document.issuing_authority)
        return authority.country if authority else None

    # -- notices -------------------------------------------------------------------------

    async def deliver_due_notices(
        self, wake: Callable[[int], Awaitable[None]] | None = None
    ) -> int:
        """Queue every notice due by today; ``wake`` is told each device queued to."""
        now = self._clock()
        today = int(now.timestamp() // 86_400)
        due = await self.store.due_notices(today)
        if not due:
            return 0
        entries = await self.audit.entries()
        requests = {
            e.get("request_id"): e for e in entries if e.get("event") == audit.REQUEST_VERIFIED
        }
        produced: dict[Any, dict[str, Any]] = {
            e.get("request_id"): e["produced"]
            for e in entries
            if e.get("event") == audit.DISCLOSURE and isinstance(e.get("produced"), dict)
        }
        delivered = 0
        for notice in due:
            address = f"{notice.handle}@{notice.app}"
            request = requests.get(notice.request_id, {})
            body = sign_notice(
                self.operator_key,
                {
                    "notice_id": notice.id,
                    "account": address,
                    "request_id": notice.request_id,
                    "process_type": request.get("process_type"),
                    "authority": request.get("authority"),
                    "country": request.get("country"),
                    "received_at": request.get("at"),
                    "categories_requested": request.get("categories", []),
                    "categories_disclosed": produced.get(notice.request_id, {}).get(address, []),
                    "statement": NOTICE_STATEMENT,
                    "issued_at": audit.timestamp(now),
                },
            )
            device_pks = await self.store.deliver_notice(
                notice.id,
                today,
                int(now.timestamp() * 1000),
                f"legal-notice-{notice.id}",
                canonical_json(body),
            )
            await self.audit.append(
                audit.NOTICE_DELIVERED,
                now,
                request_id=notice.request_id,
                account=address,
                devices=len(device_pks),
            )
            if wake is not None:
                for pk in device_pks:
                    await wake(pk)
            delivered += 1
        return delivered


def _claimed(document: RequestDocument | None) -> dict[str, Any]:
    """What a rejected document claimed about itself, when it parsed that far."""
    if document is None:
        return {"request_id": None, "process_type": None, "authority": None}
    return {
        "request_id": document.request_id,
        "process_type": document.process_type.value,
        "authority": document.issuing_authority,
    }
