"""``sottovoce legal``: the operator's commands for lawful requests (docs/legal.md).

They work on the server's database and legal directory directly, as an
operator's legal team would on the server host: register authorities, answer a
request received by other means, verify a package, check the audit chain, and
publish the transparency report. ``verify-package`` needs neither: anyone
holding a package (the authority, a court, the user) can check it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.table import Table
from rich.text import Text

from sottovoce.cli.failures import Failed
from sottovoce.cli.render import out, plain
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.legal import verify_package
from sottovoce.server import limits
from sottovoce.server.legal import audit
from sottovoce.server.legal.audit import parsed_entries, verify_chain
from sottovoce.server.legal.authorities import AuthorityKind, new_authority
from sottovoce.server.legal.desk import LegalDesk, legal_directory
from sottovoce.server.legal.errors import LegalConfigError
from sottovoce.server.legal.rendering import embedded_document, render_package_html
from sottovoce.server.legal.report import build_report, parse_period, report_csv
from sottovoce.server.settings import DEFAULT_DB, database_url
from sottovoce.storage.legal import AuthorityExists, LegalStore, UnknownAuthority
from sottovoce.storage.repository import Repository

T = TypeVar("T")

legal_app = typer.Typer(
    help="Lawful requests: authorities, answers, audit chain, transparency report.",
    no_args_is_help=True,
)
authority_app = typer.Typer(
    help="Authorities whose signed requests are answered.", no_args_is_help=True
)
legal_app.add_typer(authority_app, name="authority")

Db = Annotated[str, typer.Option(help="The server's SQLite file or database URL.")]
LegalDir = Annotated[
    Path | None,
    typer.Option(help="Directory of the operator key and policy (default: 'legal' beside the db)."),
]


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"


def _today() -> int:
    return int(datetime.now(UTC).timestamp() // 86_400)


def _run(db: str, action: Callable[[LegalStore], Awaitable[T]]) -> T:
    async def opened() -> T:
        repo = Repository.connect(database_url(db))
        try:
            await repo.migrate()
            return await action(LegalStore(repo.engine))
        finally:
            await repo.close()

    return asyncio.run(opened())


def _desk(store: LegalStore, db: str, legal_dir: Path | None) -> LegalDesk:
    try:
        return LegalDesk.open(
            store,
            legal_directory(database_url(db), legal_dir),
            limits.UNDELIVERED_RETENTION_DAYS,
        )
    except LegalConfigError as exc:
        raise Failed(str(exc)) from None


# -- authorities -------------------------------------------------------------------


@authority_app.command("add")
def authority_add(
    authority_id: Annotated[str, typer.Argument(help="Short id, e.g. us-fbi.")],
    name: Annotated[str, typer.Option(help="Full name of the authority.")],
    country: Annotated[str, typer.Option(help="ISO 3166 code of its jurisdiction, e.g. US.")],
    kind: Annotated[AuthorityKind, typer.Option(help="What kind of authority it is.")],
    public_key: Annotated[str, typer.Option(help="Its Ed25519 public key, base64.")],
    agreement: Annotated[
        list[str] | None, typer.Option(help="An agreement (policy id) it acts under; repeatable.")
    ] = None,
    db: Db = DEFAULT_DB,
) -> None:
    """Register an authority and its signing key."""
    try:
        row = new_authority(
            authority_id=authority_id,
            name=name,
            country=country,
            kind=kind.value,
            public_key_b64=public_key,
            agreements=tuple(agreement or ()),
            day=_today(),
        )
    except ValueError as exc:
        raise Failed(str(exc)) from None

    async def add(store: LegalStore) -> None:
        try:
            await store.add_authority(row)
        except AuthorityExists:
            raise Failed(f"an authority {authority_id!r} is already registered") from None
        await audit.AuditLog(store).append(
            audit.AUTHORITY_ADDED,
            datetime.now(UTC),
            authority=row.id,
            country=row.country,
            kind=row.kind,
            agreements=list(row.agreements),
            public_key=base64.b64encode(row.public_key).decode(),
        )

    _run(db, add)
    out.print(Text.assemble("registered ", plain(row.id, "bold"), f" ({row.kind}, {row.country})"))


@authority_app.command("list")
def authority_list(db: Db = DEFAULT_DB) -> None:
    """Show every registered authority, revoked ones too."""
    rows = _run(db, lambda store: store.authorities())
    if not rows:
        out.print("no authorities registered")
        return
    table = Table(title="authorities", title_justify="left")
    for column in ("id", "name", "country", "kind", "agreements", "public key", "status"):
        table.add_column(column)
    for row in rows:
        status = "active" if row.revoked_day is None else "revoked"
        table.add_row(
            plain(row.id),
            plain(row.name),
            row.country,
            row.kind,
            plain(", ".join(row.agreements) or "—"),
            base64.b64encode(row.public_key).decode(),
            status,
        )
    out.print(table)


@authority_app.command("revoke")
def authority_revoke(
    authority_id: Annotated[str, typer.Argument(help="The authority's id.")],
    db: Db = DEFAULT_DB,
) -> None:
    """Stop answering an authority's requests from today on."""

    async def revoke(store: LegalStore) -> None:
        try:
            await store.revoke_authority(authority_id, _today())
        except UnknownAuthority:
            raise Failed(f"no authority {authority_id!r} is registered") from None
        await audit.AuditLog(store).append(
            audit.AUTHORITY_REVOKED, datetime.now(UTC), authority=authority_id
        )

    _run(db, revoke)
    out.print(Text.assemble("revoked ", plain(authority_id, "bold")))


# -- requests and packages ---------------------------------------------------------


@legal_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="The signed request document (JSON).")],
    out_dir: Annotated[
        Path, typer.Option(help="Where to write the package's .json and .html.")
    ] = Path("."),
    db: Db = DEFAULT_DB,
    legal_dir: LegalDir = None,
) -> None:
    """Verify a request received by other means and, if valid, write its signed package."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise Failed(f"cannot read {file}: {exc.strerror}") from None

    async def answer(store: LegalStore) -> Any:
        desk = _desk(store, db, legal_dir)
        outcome = await desk.submit(data)
        if outcome.accepted:
            await desk.deliver_due_notices()
        return outcome

    outcome = _run(db, answer)
    if not outcome.accepted:
        raise Failed(f"request rejected ({outcome.reason}): {outcome.detail}")
    package = outcome.package["package"]
    request_id = package["request"]["request_id"]
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"package-{_safe_name(request_id)}"
    stem.with_suffix(".json").write_text(json.dumps(outcome.package, indent=1) + "\n")
    stem.with_suffix(".html").write_text(outcome.html)
    _print_summary(package)
    out.print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.html')}")


def _safe_name(request_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in request_id)


def _print_summary(package: dict[str, Any]) -> None:
    request = package["request"]
    out.print(
        Text.assemble(
            f"{package['kind']} for ",
            plain(request["request_id"], "bold"),
            f" ({request['process_type']}, {request['issuing_authority']['country']})",
        )
    )
    for account in package["accounts"]:
        produced = ", ".join(account["records"]) or "nothing"
        out.print(Text.assemble("  ", plain(account["account"], "bold"), f": {produced}"))
        for item in account["unavailable"]:
            out.print(Text.assemble(f"    {item['category']}: ", (item["reason"], "yellow")))


def _operator_key(operator_key: str | None, server: str | None) -> bytes | None:
    if operator_key is not None:
        try:
            return base64.b64decode(operator_key, validate=True)
        except (binascii.Error, ValueError):
            raise Failed("--operator-key is not base64") from None
    if server is not None:
        try:
            answer = httpx.get(server.rstrip("/") + "/v1/legal/operator-key", timeout=10)
            answer.raise_for_status()
            return base64.b64decode(answer.json()["operator_key"], validate=True)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise Failed(f"cannot fetch the operator key from {server}: {exc}") from None
    return None


@legal_app.command("verify-package")
def verify_package_command(
    file: Annotated[Path, typer.Argument(help="A package's .json, or its .html rendering.")],
    operator_key: Annotated[
        str | None, typer.Option(help="The operator's public key (base64) to require.")
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="Fetch the operator's key to require from this server.")
    ] = None,
) -> None:
    """Check a disclosure package's operator signature (and an HTML page's contents)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise Failed(f"cannot read {file}: {exc.strerror}") from None
    page = None
    if file.suffix.lower() in (".html", ".htm"):
        page = data.decode("utf-8", errors="replace")
        embedded = embedded_document(page)
        if embedded is None:
            raise Failed(f"{file} carries no signed package")
        data = embedded
    expected = _operator_key(operator_key, server)
    try:
        statement = verify_package(data, expected)
    except ProtocolError as exc:
        raise Failed(f"{file} does not verify: {exc}") from None
    if page is not None and page != render_package_html(json.loads(data)):
        raise Failed(f"{file}: the page differs from the signed package it carries")
    _print_summary(statement.body)
    key = base64.b64encode(statement.operator_key).decode()
    pinned = "the key required" if expected is not None else "the key it names"
    out.print(Text.assemble(("valid", "bold green"), f": signed by {pinned}, {key}"))


# -- audit and report ----------------------------------------------------------------


@legal_app.command("audit-verify")
def audit_verify(
    db: Db = DEFAULT_DB,
    expect_head: Annotated[
        str | None,
        typer.Option(help="A head published earlier (SEQ:HASH) the chain must still contain."),
    ] = None,
) -> None:
    """Recompute the audit chain; fail on any edited, deleted or cut-off entry."""
    rows = _run(db, lambda store: store.audit_rows())
    check = verify_chain(rows, expect_head)
    for problem in check.problems:
        out.print(Text.assemble(("broken", "bold red"), ": ", plain(problem)))
    if not check.ok:
        raise Failed(f"the audit chain of {check.entries} entries does not verify")
    out.print(
        Text.assemble(("intact", "bold green"), f": {check.entries} entries, head {check.head}")
    )


@legal_app.command("report")
def report(
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    output_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.json,
    db: Db = DEFAULT_DB,
) -> None:
    """The transparency report for a period, from the audit chain."""
    try:
        from_day, to_day = parse_period(start, end, datetime.now(UTC).date())
    except ValueError as exc:
        raise Failed(str(exc)) from None
    rows = _run(db, lambda store: store.audit_rows())
    figures = build_report(parsed_entries(rows), from_day, to_day, verify_chain(rows).head)
    if output_format is ReportFormat.csv:
        typer.echo(report_csv(figures), nl=False)
    else:
        typer.echo(json.dumps(figures, indent=2))


@legal_app.command("notices")
def notices(db: Db = DEFAULT_DB, legal_dir: LegalDir = None) -> None:
    """Queue the user notices whose non-disclosure period has ended (the server also
    does this hourly); devices receive them at their next fetch."""

    async def deliver(store: LegalStore) -> int:
        return await _desk(store, db, legal_dir).deliver_due_notices()

    out.print(f"{_run(db, deliver)} notice(s) queued")


@legal_app.command("operator-key")
def operator_key_command(db: Db = DEFAULT_DB, legal_dir: LegalDir = None) -> None:
    """Print the operator's public signing key (created on first use)."""

    async def key(store: LegalStore) -> bytes:
        return _desk(store, db, legal_dir).operator_key.public

    typer.echo(base64.b64encode(_run(db, key)).decode())
