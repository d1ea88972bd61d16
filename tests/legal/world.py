"""A legal desk on a real SQLite database, with registered authorities and accounts,
and a factory for signed request documents."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sottovoce.crypto import signing
from sottovoce.protocol.public.legal import ROLE_ISSUER, ROLE_JUDICIAL, sign_request
from sottovoce.server.legal.authorities import new_authority
from sottovoce.server.legal.desk import LegalDesk, Outcome
from sottovoce.server.legal.policy import LegalPolicy, parse_policy
from sottovoce.storage.legal import LegalStore
from sottovoce.storage.repository import Envelope, Repository
from tests.support.services import test_database_url

NOW = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
POLICY = {
    "home_jurisdictions": ["US"],
    "agreements": [
        {
            "id": "us-uk",
            "parties": ["GB"],
            "categories": ["subscriber", "connection", "devices", "queued_counts"],
            "exclude": {"apps": ["chat"], "accounts": ["excluded@photos"], "minors": True},
        }
    ],
}


@dataclass
class Signer:
    id: str
    country: str
    kind: str
    key: signing.SigningKey
    agreements: tuple[str, ...] = ()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class World:
    repo: Repository
    store: LegalStore
    desk: LegalDesk
    now: datetime = NOW
    signers: dict[str, Signer] = field(default_factory=dict)

    async def authority(
        self, authority_id: str, country: str, kind: str, agreements: tuple[str, ...] = ()
    ) -> Signer:
        key = signing.SigningKey.generate()
        await self.store.add_authority(
            new_authority(
                authority_id=authority_id,
                name=authority_id.upper(),
                country=country,
                kind=kind,
                public_key_b64=base64.b64encode(key.public).decode(),
                agreements=agreements,
                day=int(self.now.timestamp() // 86_400),
            )
        )
        self.signers[authority_id] = Signer(authority_id, country, kind, key, agreements)
        return self.signers[authority_id]

    async def account(
        self, app: str, handle: str, *, minor: bool = False, devices: int = 1
    ) -> None:
        day = int(self.now.timestamp() // 86_400)
        device = await self.repo.create_account(
            app=app,
            handle=handle,
            account_key=secrets.token_bytes(32),
            device_list=secrets.token_bytes(64),
            device_list_version=1,
            identity=secrets.token_bytes(65),
            day=day - 10,
            is_minor=minor,
        )
        return device

    def request(self, **overrides: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "request_id": "R-" + secrets.token_hex(6),
            "process_type": "warrant",
            "legal_basis": "18 U.S.C. § 2703(a)",
            "issuing_authority": "us-fbi",
            "issued_at": stamp(self.now - timedelta(hours=1)),
            "expires_at": stamp(self.now + timedelta(days=14)),
            "accounts": [{"app": "chat", "handle": "alice"}],
            "date_range": {"from": "2026-01-01", "to": "2026-12-31"},
            "categories": ["subscriber"],
        }
        request.update(overrides)
        return {k: v for k, v in request.items() if v is not None}

    def document(
        self, request: dict[str, Any], issuer: str | None = "us-fbi", judicial: str | None = None
    ) -> bytes:
        signers = []
        if issuer is not None:
            signers.append((ROLE_ISSUER, issuer, self.signers[issuer].key))
        if judicial is not None:
            signers.append((ROLE_JUDICIAL, judicial, self.signers[judicial].key))
        return json.dumps(sign_request(request, signers)).encode()

    async def submit(self, data: bytes) -> Outcome:
        return await self.desk.submit(data)

    async def audit_events(self) -> list[dict[str, Any]]:
        return await self.desk.audit.entries()


async def make_world(tmp: Path, policy: LegalPolicy | None = None) -> World:
    # SQLite, or a fresh PostgreSQL database with SOTTOVOCE_TEST_DB=postgresql.
    repo = Repository.connect(test_database_url(tmp / "legal.db"))
    await repo.migrate()
    store = LegalStore(repo.engine)
    holder: dict[str, World] = {}
    desk = LegalDesk(
        store,
        policy or parse_policy(POLICY),
        signing.SigningKey.generate(),
        retention_days=30,
        clock=lambda: holder["world"].now,
    )
    world = World(repo, store, desk)
    holder["world"] = world
    await world.authority("us-fbi", "US", "law-enforcement")
    await world.authority("us-court", "US", "court")
    await world.authority("us-ems", "US", "emergency-service")
    await world.authority("uk-police", "GB", "law-enforcement", ("us-uk",))
    await world.authority("uk-ipc", "GB", "independent-reviewer")
    await world.account("chat", "alice")
    await world.account("photos", "bob")
    await world.account("photos", "excluded")
    await world.account("photos", "kid", minor=True)
    return world


async def queue_for(world: World, app: str, handle: str, count: int, server_ts: int) -> None:
    """Queue ``count`` ciphertexts for the account's first device."""
    account = await world.repo.account(app, handle)
    assert account is not None
    for n in range(count):
        await world.repo.enqueue(
            sender=None,
            message_id=f"m-{handle}-{server_ts}-{n}",
            envelopes=[
                Envelope(account.devices[0].pk, "message", b"\x01" + secrets.token_bytes(40))
            ],
            server_ts=server_ts,
            max_queue_depth=10_000,
        )
