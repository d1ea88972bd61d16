"""Running ``sottovoce legal`` commands as an operator types them.

In this process (typer's CliRunner) rather than a child: each child paid ~0.8 s of
CPU to start Python and import the CLI, some twenty-five times in this folder. The
command's exit code, standard output and standard error are the same either way;
its consoles are 200 columns wide, so no line an assertion reads is wrapped.
"""

from __future__ import annotations

import base64
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from sottovoce.cli import render
from sottovoce.cli.main import app
from sottovoce.cli.render import StderrLog
from sottovoce.crypto import signing

WIDTH = 200


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _invoke(args: tuple[str, ...]) -> Ran:
    consoles = (render.out, render.err)
    widths = [console.width for console in consoles]
    logger = logging.getLogger("sottovoce")
    try:
        for console in consoles:
            console.width = WIDTH
        result = CliRunner().invoke(app, list(args))
    finally:
        for console, width in zip(consoles, widths, strict=True):
            console.width = width
        # The CLI adds a stderr handler to the SDK's logger per invocation.
        for handler in [h for h in logger.handlers if isinstance(h, StderrLog)]:
            logger.removeHandler(handler)
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    return Ran(result.exit_code, result.stdout, result.stderr + (f"\n{crash!r}" if crash else ""))


def sottovoce(*args: str, check: bool = True) -> Ran:
    """``sottovoce ARGS…``; on a thread of its own, since the commands run their own
    event loop and some tests call this from inside theirs."""
    with ThreadPoolExecutor(1) as thread:
        result = thread.submit(_invoke, args).result(timeout=120)
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
