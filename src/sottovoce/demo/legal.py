"""The demo's lawful-request act: a warrant for demo-a, answered with what exists
(docs/legal.md).

A police agency and a court are registered in the server's database as an
operator would (``sottovoce legal authority add``); the warrant asks for every
category there is. The act checks that the signed package verifies with the
operator's published key, holds only whitelisted fields and none of the
messages' texts, that demo-a's device shows the operator's notice, that the
public /transparency page shows the warrant, and that the audit chain is intact.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sottovoce.crypto import signing
from sottovoce.demo.leaks import find_leaks
from sottovoce.demo.stage import Stage, announce, console
from sottovoce.protocol.public.legal import ROLE_ISSUER, ROLE_JUDICIAL, sign_request, verify_package
from sottovoce.server.legal.audit import verify_chain
from sottovoce.server.legal.authorities import new_authority
from sottovoce.server.legal.compellability import Category
from sottovoce.server.legal.fields import ALLOWED_PATHS, field_paths
from sottovoce.server.settings import database_url
from sottovoce.storage.legal import LegalStore
from sottovoce.storage.repository import Repository

AUTHORITIES = (
    ("us-fbi", "Federal Bureau of Investigation", "law-enforcement"),
    ("us-dc-court", "U.S. District Court for the District of Columbia", "court"),
)


def _warrant(now: datetime) -> dict[str, object]:
    return {
        "request_id": "DEMO-W-0001",
        "process_type": "warrant",
        "legal_basis": "18 U.S.C. § 2703(a); Fed. R. Crim. P. 41",
        "issuing_authority": "us-fbi",
        "issued_at": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accounts": [{"app": "chat", "handle": "demo-a"}],
        "date_range": {"from": "2026-01-01", "to": now.date().isoformat()},
        "categories": [c.value for c in Category],
    }


def _package_table(account: dict[str, object]) -> Table:
    table = Table(title="the signed disclosure package for demo-a@chat", title_justify="left")
    table.add_column("category")
    table.add_column("answer")
    records = account["records"]
    assert isinstance(records, dict)
    for category, record in records.items():
        table.add_row(category, ", ".join(sorted(field_paths(record))) or "(none held)")
    unavailable = account["unavailable"]
    assert isinstance(unavailable, list)
    for item in unavailable:
        table.add_row(item["category"], Text(item["reason"], style="yellow"))
    return table


async def a_lawful_request(stage: Stage) -> None:
    announce(
        "A lawful request for demo-a's records",
        "A warrant, signed by a police agency and countersigned by a court, asks for every "
        "category. The operator answers with what it holds, signed; demo-a's device is told.",
    )
    keys = {authority_id: signing.SigningKey.generate() for authority_id, _, _ in AUTHORITIES}
    repo = Repository.connect(database_url(str(stage.server.db_path)))
    try:
        store = LegalStore(repo.engine)
        for authority_id, name, kind in AUTHORITIES:
            await store.add_authority(
                new_authority(
                    authority_id=authority_id,
                    name=name,
                    country="US",
                    kind=kind,
                    public_key_b64=base64.b64encode(keys[authority_id].public).decode(),
                    agreements=(),
                    day=int(time.time() // 86_400),
                )
            )
        document = sign_request(
            _warrant(datetime.now(UTC)),
            [
                (ROLE_ISSUER, "us-fbi", keys["us-fbi"]),
                (ROLE_JUDICIAL, "us-dc-court", keys["us-dc-court"]),
            ],
        )
        async with httpx.AsyncClient(base_url=stage.server.url, timeout=30) as http:
            answer = await http.post("/v1/legal/requests", content=json.dumps(document))
            if answer.status_code != 200:
                stage.failures.append(f"the warrant was refused: {answer.text}")
                return
            operator_key = (await http.get("/v1/legal/operator-key")).json()["operator_key"]
            package = verify_package(
                json.dumps(answer.json()["package"]).encode(), base64.b64decode(operator_key)
            ).body
            [account] = package["accounts"]
            console.print(_package_table(account))
            console.print(Text(package["end_to_end_encrypted"], style="italic"))
            paths = {f"{c}.{p}" for c, r in account["records"].items() for p in field_paths(r)}
            texts = {e.text: e.text.encode() for e in stage.exchanges}
            leaks = find_leaks({"package": json.dumps(package).encode()}, texts)
            if not paths <= ALLOWED_PATHS or leaks:
                stage.failures.append("the package holds more than the whitelisted fields")
            else:
                console.print(
                    f"[bold green]PASS[/]: {len(paths)} whitelisted fields and no message text; "
                    "the signature verifies with the operator's published key"
                )
            fetched = await stage.people["demo-a"].fetch()
            notices = [m for m in fetched if m.sender == "operator"]
            if len(notices) != 1:
                stage.failures.append(f"demo-a's device got {len(notices)} operator notices")
            for notice in notices:
                console.print(Panel(Text(notice.text), title="demo-a's device shows"))
            page = await http.get("/transparency")
            report = (await http.get("/transparency.json")).json()
            if page.status_code != 200 or "warrant: 1" not in page.text:
                stage.failures.append("the /transparency page does not show the warrant")
            console.print(
                f"{stage.server.url}/transparency shows {report['requests']['total']} request "
                f"{report['requests']['by_country_and_process_type']}, "
                f"{report['disclosures']['with_data_produced']} answered with data, "
                f"{report['rejections']['total']} rejected"
            )
        chain = verify_chain(await store.audit_rows())
        if chain.ok:
            console.print(
                f"[bold green]PASS[/]: audit chain intact, {chain.entries} entries, "
                f"head {chain.head[:24]}…"
            )
        else:
            stage.failures.append(f"the legal audit chain is broken: {chain.problems}")
    finally:
        await repo.close()
