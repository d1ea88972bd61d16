"""The whole workflow against the real server process, its CLI and a real client."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import httpx

from sottovoce.client import Client
from sottovoce.crypto import signing
from sottovoce.protocol.public.legal import (
    ROLE_ISSUER,
    ROLE_JUDICIAL,
    canonical_json,
    sign_notice,
    sign_request,
)
from sottovoce.server import limits
from sottovoce.server.legal.operator_key import load_or_create
from sottovoce.server.settings import database_url
from sottovoce.storage.legal import LegalStore
from sottovoce.storage.repository import Repository
from tests.legal.cli_helpers import register, request_for, sottovoce
from tests.support.live_server import LiveServer


async def test_warrant_answered_over_the_api_and_the_user_notified(
    live_server: LiveServer, tmp_path: Path
) -> None:
    db = live_server.db_path
    fbi = register(db, "us-fbi", "US", "law-enforcement")
    court = register(db, "us-court", "US", "court")
    alice = await Client.create_account(tmp_path / "alice", live_server.url, "chat", "alice")
    try:
        every = [
            "subscriber", "connection", "devices", "queued_counts", "group_membership",
            "transparency_log", "abuse_reports", "message_content", "attachments",
            "group_content", "keys", "contacts", "ip_addresses", "access_logs", "location",
        ]  # fmt: skip
        request = request_for("W-1", "warrant", "alice", every)
        document = sign_request(
            request, [(ROLE_ISSUER, "us-fbi", fbi), (ROLE_JUDICIAL, "us-court", court)]
        )
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            answer = await http.post("/v1/legal/requests", content=json.dumps(document))
            assert answer.status_code == 200, answer.text
            key = (await http.get("/v1/legal/operator-key")).json()["operator_key"]
            replay = await http.post("/v1/legal/requests", content=json.dumps(document))
            assert replay.status_code == 409
            assert replay.json()["reason"] == "replayed-request-id"

        package_file = tmp_path / "package.json"
        package_file.write_text(json.dumps(answer.json()["package"]))
        html_file = tmp_path / "package.html"
        html_file.write_text(answer.json()["package_html"])
        for path in (package_file, html_file):
            result = sottovoce("legal", "verify-package", str(path), "--server", live_server.url)
            assert "valid" in result.stdout
        # A tampered package does not verify.
        tampered = json.loads(package_file.read_text())
        tampered["package"]["accounts"][0]["records"]["subscriber"]["handle"] = "mallory"
        package_file.write_text(json.dumps(tampered))
        failed = sottovoce(
            "legal", "verify-package", str(package_file), "--operator-key", key, check=False
        )
        assert failed.returncode == 1 and "does not verify" in failed.stderr

        # The account's device gets the signed notice, shown as a system notice.
        received = await alice.fetch()
        notices = [m for m in received if m.sender == "operator"]
        assert len(notices) == 1
        assert "warrant" in notices[0].text and "us-fbi" in notices[0].text
        assert base64.b64decode(key)  # the key the client pinned is the published one

        # Notices signed by another key, or naming another account, are dropped.
        repo = Repository.connect(database_url(str(db)))
        try:
            store = LegalStore(repo.engine)
            forger = signing.SigningKey.generate()
            operator = load_or_create(db.parent / "legal")  # the server's own key
            for n, (signer, account) in enumerate(
                [(forger, "alice@chat"), (operator, "bob@photos")], start=100
            ):
                await store.schedule_notices(f"F-{n}", [("chat", "alice")], 0)
                [due] = await store.due_notices(10**6)
                body = canonical_json(sign_notice(signer, {"notice_id": n, "account": account}))
                await store.deliver_notice(due.id, 1, 1, f"legal-notice-{n}", body)
        finally:
            await repo.close()
        assert [m for m in await alice.fetch() if m.sender == "operator"] == []
    finally:
        await alice.close()

    chain = sottovoce("legal", "audit-verify", "--db", str(db))
    assert "intact" in chain.stdout
    report = json.loads(sottovoce("legal", "report", "--db", str(db)).stdout)
    assert report["requests"]["by_country_and_process_type"] == [
        {"country": "US", "process_type": "warrant", "requests": 1}
    ]
    assert report["rejections"]["by_reason"] == {"replayed-request-id": 1}
    assert report["notices_delivered"] == 1


async def test_bad_documents_never_crash_the_server(live_server: LiveServer) -> None:
    bad = {
        "not-json": b"\x00\xff<html>",
        "too-large": b'{"format": "' + b"x" * (limits.MAX_LEGAL_DOCUMENT_BYTES * 4) + b'"}',
        "too-deeply-nested": b"[" * 30_000 + b"]" * 30_000,
        "malformed": b'{"format": "sottovoce-legal-request/1", "request": {}, "signatures": []}',
        "unsupported-format": b'{"format": 7}',
    }
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        for reason, body in bad.items():
            answer = await http.post("/v1/legal/requests", content=body)
            assert 400 <= answer.status_code < 500, (reason, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["reason"] == reason
        assert (await http.get("/healthz")).status_code == 200
    report = json.loads(sottovoce("legal", "report", "--db", str(live_server.db_path)).stdout)
    assert report["rejections"]["by_reason"] == {reason: 1 for reason in bad}
    assert "intact" in sottovoce("legal", "audit-verify", "--db", str(live_server.db_path)).stdout


def test_authority_commands(tmp_path: Path) -> None:
    db = tmp_path / "server.db"
    register(db, "us-fbi", "US", "law-enforcement")
    listed = sottovoce("legal", "authority", "list", "--db", str(db)).stdout
    assert "us-fbi" in listed and "active" in listed
    sottovoce("legal", "authority", "revoke", "us-fbi", "--db", str(db))
    assert "revoked" in sottovoce("legal", "authority", "list", "--db", str(db)).stdout
    again = sottovoce("legal", "authority", "revoke", "nobody", "--db", str(db), check=False)
    assert again.returncode == 1 and "no authority" in again.stderr
    bad_key = sottovoce(
        "legal", "authority", "add", "x", "--name", "X", "--country", "US",
        "--kind", "court", "--public-key", "AAAA", "--db", str(db), check=False,
    )  # fmt: skip
    assert bad_key.returncode == 1 and "public key" in bad_key.stderr
    intact = sottovoce("legal", "audit-verify", "--db", str(db)).stdout
    assert "intact: 2 entries" in intact
    head = intact.split("head ")[1].strip()
    with sqlite3.connect(db) as conn:  # someone edits the first entry behind the server's back
        conn.execute(
            "UPDATE legal_audit SET entry = replace(entry, 'us-fbi', 'us-cia') WHERE seq = 1"
        )
    broken = sottovoce("legal", "audit-verify", "--db", str(db), check=False)
    assert broken.returncode == 1
    assert "entry 1 was edited" in broken.stdout and "does not verify" in broken.stderr
    with sqlite3.connect(db) as conn:  # or cuts the chain short
        conn.execute(
            "UPDATE legal_audit SET entry = replace(entry, 'us-cia', 'us-fbi') WHERE seq = 1"
        )
        conn.execute("DELETE FROM legal_audit WHERE seq = 2")
    assert "intact" in sottovoce("legal", "audit-verify", "--db", str(db)).stdout
    cut = sottovoce("legal", "audit-verify", "--db", str(db), "--expect-head", head, check=False)
    assert cut.returncode == 1 and "cut off the end" in cut.stdout


def test_submit_from_a_file_writes_package_and_report_csv(tmp_path: Path) -> None:
    db = tmp_path / "server.db"
    fbi = register(db, "us-fbi", "US", "law-enforcement")
    document = sign_request(
        request_for("S-1", "subpoena", "nobody", ["subscriber"]), [(ROLE_ISSUER, "us-fbi", fbi)]
    )
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(document))
    result = sottovoce(
        "legal", "submit", str(request_file), "--db", str(db), "--out-dir", str(tmp_path)
    )
    assert "nobody@chat: nothing" in result.stdout
    assert (tmp_path / "package-S-1.json").exists() and (tmp_path / "package-S-1.html").exists()
    again = sottovoce("legal", "submit", str(request_file), "--db", str(db), check=False)
    assert again.returncode == 1 and "replayed-request-id" in again.stderr
    csv_text = sottovoce("legal", "report", "--db", str(db), "--format", "csv").stdout
    assert csv_text.splitlines()[0] == "metric,country,process_type,reason,value"
    assert "requests,US,subpoena,,1" in csv_text
    assert "rejections,,,replayed-request-id,1" in csv_text
    assert (tmp_path / "legal" / "operator.key").stat().st_mode & 0o777 == 0o600
    package = json.loads((tmp_path / "package-S-1.json").read_text())
    key = sottovoce("legal", "operator-key", "--db", str(db)).stdout.strip()
    assert key == package["operator_key"]
    assert "0 notice(s) queued" in sottovoce("legal", "notices", "--db", str(db)).stdout
