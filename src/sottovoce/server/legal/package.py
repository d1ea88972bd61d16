"""The disclosure package: what the operator holds that the request may compel.

Built only from :mod:`sottovoce.storage.legal` queries that name their columns,
passed through the whitelist (:mod:`~sottovoce.server.legal.fields`), and signed
by the operator's key. Every package states what is end-to-end encrypted and
therefore unavailable, and for every requested category that is absent, why:
not held, not retained, or not compellable by this process.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sottovoce.crypto import signing
from sottovoce.protocol.public.legal import canonical_json, sign_package
from sottovoce.server.legal.compellability import (
    HELD,
    NEVER_HELD,
    VOLUNTARY_ON_EMERGENCY,
    Category,
    ProcessType,
    Unavailable,
)
from sottovoce.server.legal.documents import AccountName
from sottovoce.server.legal.fields import checked
from sottovoce.server.legal.verification import VerifiedRequest
from sottovoce.storage.legal import AccountFacts, AuthorityRow, LegalStore

E2EE_STATEMENT = (
    "Message content, attachments, group contents and encryption keys are end-to-end "
    "encrypted on the users' devices. The operator has never held them in readable form, "
    "holds no key that could decrypt them, and cannot produce them for any request. This "
    "package contains every record the operator holds, among those the request asks for "
    "and may compel, for the accounts it names; nothing else exists to produce."
)

KIND_DISCLOSURE = "disclosure"
KIND_EMERGENCY = "emergency-disclosure"
KIND_PRESERVATION = "preservation-acknowledgement"

# Why a held category is missing for one account.
NO_ACCOUNT = "No account with this app and handle exists on this server."
NOT_RUN = {
    Category.GROUP_MEMBERSHIP: "This server keeps no group membership records.",
    Category.TRANSPARENCY_LOG: "This server keeps no key-transparency log.",
    Category.ABUSE_REPORTS: "This server keeps no abuse reports or safety records.",
}
EMERGENCY_LIMIT = (
    "An emergency request compels nothing; the operator discloses only basic subscriber "
    "records, connection day and devices voluntarily. Send legal process for the rest."
)


def day_iso(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _day_number(value: date) -> int:
    return (value - date(1970, 1, 1)).days


def _ms(value: date) -> int:
    return _day_number(value) * 86_400_000


@dataclass(frozen=True, slots=True)
class Built:
    """A signed package and what it produced, for the audit chain."""

    document: dict[str, Any]
    kind: str
    produced: dict[str, list[str]]  # account → categories with records
    preserved_until: int | None
    snapshots: list[tuple[str, str, bytes]]  # (app, handle, records) to preserve


class _Unavailable(Exception):
    def __init__(self, reason: Unavailable, explanation: str) -> None:
        super().__init__(explanation)
        self.reason = reason
        self.explanation = explanation


@dataclass(frozen=True, slots=True)
class _Context:
    store: LegalStore
    facts: AccountFacts
    date_from: date
    date_to: date
    today: int
    retention_days: int


async def _subscriber(ctx: _Context) -> dict[str, Any]:
    return {
        "app": ctx.facts.app,
        "handle": ctx.facts.handle,
        "created_day": day_iso(ctx.facts.created_day),
        "is_minor": ctx.facts.is_minor,
    }


async def _connection(ctx: _Context) -> dict[str, Any]:
    if not ctx.facts.devices:
        raise _Unavailable(Unavailable.NOT_HELD, "The account has no device.")
    last = max(d.last_seen_day for d in ctx.facts.devices)
    if not _day_number(ctx.date_from) <= last <= _day_number(ctx.date_to):
        raise _Unavailable(
            Unavailable.NOT_RETAINED,
            "The server keeps only the latest connection day of each device, and it falls "
            "outside the requested date range.",
        )
    return {"last_connection_day": day_iso(last)}


async def _devices(ctx: _Context) -> dict[str, Any]:
    return {
        "devices": [
            {
                "device_id": d.device_id,
                "identity_key": base64.b64encode(d.identity).decode(),
                "created_day": day_iso(d.created_day),
            }
            for d in ctx.facts.devices
        ]
    }


async def _queued_counts(ctx: _Context) -> dict[str, Any]:
    oldest_kept = ctx.today - ctx.retention_days
    if _day_number(ctx.date_to) < oldest_kept:
        raise _Unavailable(
            Unavailable.NOT_RETAINED,
            f"Undelivered ciphertext is dropped after {ctx.retention_days} days and delivered "
            "ciphertext at once; none from the requested date range remains.",
        )
    counts = await ctx.store.queued_counts(
        [d.pk for d in ctx.facts.devices], _ms(ctx.date_from), _ms(ctx.date_to + timedelta(days=1))
    )
    return {
        "devices": [
            {"device_id": d.device_id, "queued_ciphertexts": counts.get(d.pk, 0)}
            for d in ctx.facts.devices
        ]
    }


async def _groups(ctx: _Context) -> dict[str, Any]:
    groups = await ctx.store.group_memberships([d.pk for d in ctx.facts.devices])
    if groups is None:
        raise _Unavailable(Unavailable.NOT_HELD, NOT_RUN[Category.GROUP_MEMBERSHIP])
    device_ids = {d.pk: d.device_id for d in ctx.facts.devices}
    return {
        "groups": [
            {
                "group_id": base64.b64encode(g.group_id).decode(),
                "epoch": g.epoch,
                "member_devices": g.member_devices,
                "account_devices": [device_ids[pk] for pk in g.account_devices],
            }
            for g in groups
        ]
    }


async def _transparency(ctx: _Context) -> dict[str, Any]:
    positions = await ctx.store.transparency_positions(ctx.facts.app, ctx.facts.handle)
    if positions is None:
        raise _Unavailable(Unavailable.NOT_HELD, NOT_RUN[Category.TRANSPARENCY_LOG])
    return {
        "entries": [
            {
                "leaf_index": p.leaf_index,
                "kind": p.kind,
                "device_list_version": p.device_list_version,
            }
            for p in positions
        ]
    }


async def _abuse(ctx: _Context) -> dict[str, Any]:
    safety = await ctx.store.safety_records(ctx.facts.app, ctx.facts.handle)
    if safety is None:
        raise _Unavailable(Unavailable.NOT_HELD, NOT_RUN[Category.ABUSE_REPORTS])
    return {
        "reported_blocks": [{"day": day_iso(d)} for d in safety.reported_block_days],
        "moderation_actions": [
            {"action": action, "day": day_iso(day)} for action, day in safety.moderation_actions
        ],
    }


SOURCES: dict[Category, Callable[[_Context], Any]] = {
    Category.SUBSCRIBER: _subscriber,
    Category.CONNECTION: _connection,
    Category.DEVICES: _devices,
    Category.QUEUED_COUNTS: _queued_counts,
    Category.GROUP_MEMBERSHIP: _groups,
    Category.TRANSPARENCY_LOG: _transparency,
    Category.ABUSE_REPORTS: _abuse,
}
assert set(SOURCES) == HELD


def _unavailable(category: Category, reason: Unavailable, explanation: str) -> dict[str, str]:
    return {"category": category.value, "reason": reason.value, "explanation": explanation}


def _authority(row: AuthorityRow | None) -> dict[str, str] | None:
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "country": row.country, "kind": row.kind}


def _kind(process: ProcessType) -> str:
    if process is ProcessType.PRESERVATION:
        return KIND_PRESERVATION
    if process is ProcessType.EMERGENCY:
        return KIND_EMERGENCY
    return KIND_DISCLOSURE


def _split(verified: VerifiedRequest, kind: str) -> tuple[list[Category], list[dict[str, str]]]:
    """The requested categories to look up, and those answered at once (never held,
    or not disclosed on an emergency)."""
    wanted: list[Category] = []
    answered: list[dict[str, str]] = []
    for category in verified.document.categories:
        if category not in verified.compellable:  # refused by verification already
            raise AssertionError(f"{category} reached the package uncompelled")
        if category in NEVER_HELD:
            answered.append(_unavailable(category, Unavailable.NOT_HELD, NEVER_HELD[category]))
        elif kind == KIND_EMERGENCY and category not in VOLUNTARY_ON_EMERGENCY:
            answered.append(_unavailable(category, Unavailable.NOT_COMPELLABLE, EMERGENCY_LIMIT))
        else:
            wanted.append(category)
    return wanted, answered


async def _preserved(
    store: LegalStore, name: AccountName, wanted: list[Category], today: int
) -> list[dict[str, Any]]:
    """Snapshots of the account still in force, limited to the wanted categories."""
    kept = []
    for snapshot in await store.preserved_snapshots(name.app, name.handle, today):
        records = {
            category: checked(Category(category), record)
            for category, record in json.loads(snapshot.records).items()
            if Category(category) in wanted
        }
        if records:
            kept.append(
                {
                    "request_id": snapshot.request_id,
                    "preserved_on": day_iso(snapshot.taken_day),
                    "records": records,
                }
            )
    return kept


async def _records(
    ctx: _Context | None, wanted: list[Category], preserved: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """What the account's current records give for each wanted category (``ctx`` is
    None when the account does not exist), and why the others are missing."""
    records: dict[str, Any] = {}
    unavailable: list[dict[str, str]] = []
    for category in wanted:
        if ctx is None:
            if not any(category.value in p["records"] for p in preserved):
                unavailable.append(_unavailable(category, Unavailable.NOT_HELD, NO_ACCOUNT))
            continue
        try:
            records[category.value] = checked(category, await SOURCES[category](ctx))
        except _Unavailable as exc:
            unavailable.append(_unavailable(category, exc.reason, exc.explanation))
    return records, unavailable


async def build_package(
    verified: VerifiedRequest,
    store: LegalStore,
    operator_key: signing.SigningKey,
    now: datetime,
    retention_days: int,
) -> Built:
    """The signed answer to ``verified``. A preservation request discloses nothing: its
    package acknowledges what is preserved and until when, and the records it keeps
    aside come back in :attr:`Built.snapshots`."""
    doc = verified.document
    today = int(now.timestamp() // 86_400)
    kind = _kind(doc.process_type)
    preserved_until = today + doc.preserve_days if doc.preserve_days is not None else None
    wanted, answered = _split(verified, kind)
    accounts_out = []
    produced: dict[str, list[str]] = {}
    snapshots: list[tuple[str, str, bytes]] = []
    for name in doc.accounts:
        facts = await store.account_facts(name.app, name.handle)
        ctx = (
            None
            if facts is None
            else _Context(store, facts, doc.date_from, doc.date_to, today, retention_days)
        )
        preserved = await _preserved(store, name, wanted, today)
        records, unavailable = await _records(ctx, wanted, preserved)
        entry: dict[str, Any] = {"account": name.address, "found": facts is not None}
        if kind == KIND_PRESERVATION:
            if records:
                snapshots.append((name.app, name.handle, canonical_json(records)))
            entry.update(records={}, preserved_categories=sorted(records))
        else:
            entry.update(records=records, preserved_records=preserved)
            disclosed = set(records) | {c for p in preserved for c in p["records"]}
            if disclosed:
                produced[name.address] = sorted(disclosed)
        entry["unavailable"] = answered + unavailable
        accounts_out.append(entry)
    package = {
        "kind": kind,
        "request": {
            "request_id": doc.request_id,
            "process_type": doc.process_type.value,
            "legal_basis": doc.legal_basis,
            "issuing_authority": _authority(verified.issuer),
            "judicial_authority": _authority(verified.judicial),
            "agreement": doc.agreement,
            "date_range": {"from": doc.date_from.isoformat(), "to": doc.date_to.isoformat()},
            "categories_requested": [c.value for c in doc.categories],
            "emergency_justification": doc.emergency_justification,
        },
        "answered_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_to_end_encrypted": E2EE_STATEMENT,
        "never_held": [
            {"category": c.value, "explanation": text} for c, text in NEVER_HELD.items()
        ],
        "accounts": accounts_out,
        "preserved_until": day_iso(preserved_until) if preserved_until is not None else None,
        "user_notice": (
            "The named accounts are told of this request on their devices "
            + (
                f"after {doc.non_disclosure_until.isoformat()}, when its non-disclosure "
                "period ends."
                if doc.non_disclosure_until
                else "now: the request sets no non-disclosure period."
            )
        ),
    }
    return Built(sign_package(operator_key, package), kind, produced, preserved_until, snapshots)
