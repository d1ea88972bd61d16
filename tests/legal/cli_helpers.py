"""Running ``sottovoce legal`` commands as an operator would, in a child process."""

from __future__ import annotations

import base64
import subprocess
import sys
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
