"""Running ``sottovoce legal`` commands as an operator would, in a child process."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sottovoce.crypto import signing


def sottovoce(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sottovoce"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"sottovoce {' '.join(args)} failed: {result.stderr}{result.stdout}")
    return result


def register(
    db: Path, authority_id: str, country: str, kind: str, *agreements: str
) -> signing.SigningKey:
    key = signing.SigningKey.generate()
    extra = [a for agreement in agreements for a in ("--agreement", agreement)]
    sottovoce(
        "legal", "authority", "add", authority_id,
        "--name", f"{authority_id} (test)",
        "--country", country,
        "--kind", kind,
        "--public-key", base64.b64encode(key.public).decode(),
        "--db", str(db),
        *extra,
    )  # fmt: skip
    return key


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def request_for(request_id: str, process: str, handle: str, categories: list[str]) -> dict:
    """A request by us-fbi for one chat account, valid from now for a week."""
    now = datetime.now(UTC)
    return {
        "request_id": request_id,
        "process_type": process,
        "legal_basis": "18 U.S.C. § 2703",
        "issuing_authority": "us-fbi",
        "issued_at": stamp(now - timedelta(minutes=10)),
        "expires_at": stamp(now + timedelta(days=7)),
        "accounts": [{"app": "chat", "handle": handle}],
        "date_range": {"from": "2026-01-01", "to": stamp(now)[:10]},
        "categories": categories,
    }
