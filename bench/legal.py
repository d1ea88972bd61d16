"""Throughput of the legal desk on SQLite: how fast requests are refused and answered.

Run ``python bench/legal.py``. Each figure is one JSON object per line:
``{"bench": "legal", "metric": ..., "value": ..., "unit": ..., "impl": "sottovoce"}``.

- ``rejections_per_s``: forged warrants (a signature by an unregistered key)
  parsed, refused and appended to the audit chain.
- ``warrants_answered_per_s``: valid warrants for every category of one account
  verified, answered with a signed package and audited (three chain entries
  and one notice row each).
- ``audit_verify_entries_per_s``: audit-chain entries recomputed by
  ``verify_chain``.

Numbers are the whole desk, database included (one SQLite file, WAL); a real
operator receives a few requests a day, so these only show the workflow is
never the bottleneck, not a target.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sottovoce.crypto import signing
from sottovoce.protocol.public.legal import ROLE_ISSUER, ROLE_JUDICIAL, sign_request
from sottovoce.server.legal.audit import verify_chain
from sottovoce.server.legal.authorities import new_authority
from sottovoce.server.legal.compellability import Category
from sottovoce.server.legal.desk import LegalDesk
from sottovoce.server.legal.policy import LegalPolicy
from sottovoce.server.settings import database_url
from sottovoce.storage.legal import LegalStore
from sottovoce.storage.repository import Repository

REQUESTS = 300


def emit(metric: str, value: float, unit: str) -> None:
    print(
        json.dumps(
            {"bench": "legal", "metric": metric, "value": round(value, 1), "unit": unit,
             "impl": "sottovoce"}
        )
    )  # fmt: skip


def warrant(n: int, now: datetime) -> dict[str, object]:
    return {
        "request_id": f"B-{n}",
        "process_type": "warrant",
        "legal_basis": "18 U.S.C. § 2703(a)",
        "issuing_authority": "us-fbi",
        "issued_at": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accounts": [{"app": "chat", "handle": "alice"}],
        "date_range": {"from": "2026-01-01", "to": "2026-12-31"},
        "categories": [c.value for c in Category],
    }


async def main(directory: Path) -> None:
    repo = Repository.connect(database_url(str(directory / "bench.db")))
    await repo.migrate()
    store = LegalStore(repo.engine)
    desk = LegalDesk(store, LegalPolicy(), signing.SigningKey.generate(), retention_days=30)
    keys = {"us-fbi": signing.SigningKey.generate(), "us-court": signing.SigningKey.generate()}
    for authority_id, kind in (("us-fbi", "law-enforcement"), ("us-court", "court")):
        await store.add_authority(
            new_authority(
                authority_id=authority_id,
                name=authority_id,
                country="US",
                kind=kind,
                public_key_b64=base64.b64encode(keys[authority_id].public).decode(),
                agreements=(),
                day=int(time.time() // 86_400),
            )
        )
    await repo.create_account(
        app="chat", handle="alice", account_key=bytes(32), device_list=bytes(64),
        device_list_version=1, identity=bytes(65), day=int(time.time() // 86_400),
    )  # fmt: skip
    now = datetime.now(UTC)
    impostor = signing.SigningKey.generate()
    forged = [
        json.dumps(sign_request(warrant(n, now), [(ROLE_ISSUER, "us-fbi", impostor)])).encode()
        for n in range(REQUESTS)
    ]
    signers = [
        (ROLE_ISSUER, "us-fbi", keys["us-fbi"]),
        (ROLE_JUDICIAL, "us-court", keys["us-court"]),
    ]
    valid = [
        json.dumps(sign_request(warrant(REQUESTS + n, now), signers)).encode()
        for n in range(REQUESTS)
    ]
    start = time.perf_counter()
    for data in forged:
        assert not (await desk.submit(data)).accepted
    emit("rejections_per_s", REQUESTS / (time.perf_counter() - start), "req/s")
    start = time.perf_counter()
    for data in valid:
        assert (await desk.submit(data)).accepted
    emit("warrants_answered_per_s", REQUESTS / (time.perf_counter() - start), "req/s")
    rows = await store.audit_rows()
    start = time.perf_counter()
    assert verify_chain(rows).ok
    emit("audit_verify_entries_per_s", len(rows) / (time.perf_counter() - start), "entries/s")
    await repo.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
