"""The demo's side-by-side act: what each person's device shows next to what the server
stored, every table of its database and its log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.columns import Columns
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sottovoce.demo.stage import Exchange, Stage, announce, console
from sottovoce.storage.repository import ONE_TIME_EC, ONE_TIME_KEM

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The server's one-time prekey kinds, named by their algorithm (PQXDH §2.4).
PREKEY_KINDS = {ONE_TIME_EC: "X25519", ONE_TIME_KEM: "ML-KEM-1024"}
# The log is shown whole up to this many lines, else its last ones.
LOG_LINES_SHOWN = 12


def _seen_by(stage: Stage, handle: str, peer: str) -> dict[str, str]:
    """message id → how it reads in ``handle``'s own encrypted store."""
    return {
        entry.message_id: f"{'→' if entry.direction == 'out' else '←'} {entry.text}"
        for entry in stage.people[handle].history(peer)
    }


def _server_cell(exchange: Exchange) -> Text:
    if exchange.stored is None:
        return Text("relayed live over the WebSocket;\ndeleted once acknowledged", style="dim")
    stored = exchange.stored
    sender = stored.sender or "a sender the server does not know"
    return Text.assemble(
        f"{stored.kind} envelope from {sender}, {stored.size:,} bytes\n",
        (f"{stored.head.hex(' ')} … {stored.tail.hex(' ')}", "cyan"),
    )


def _day(days: int) -> str:
    """The server keeps days, not instants (DESIGN.md: creation and last connection by day)."""
    return (EPOCH + timedelta(days=days)).date().isoformat()


def accounts_view(stage: Stage) -> Table:
    table = Table(title="accounts and devices", title_justify="left")
    for column in ("address", "device", "identity key", "created", "last connected"):
        table.add_column(column)
    for handle, app, device, identity_len, created, seen in stage.query(
        "SELECT a.handle, a.app, d.device_id, length(d.identity), d.created_day, "
        "d.last_seen_day FROM accounts a JOIN devices d ON d.account_id = a.id ORDER BY a.id"
    ):
        table.add_row(
            f"{handle}@{app}",
            str(device),
            f"public, {identity_len} bytes",
            _day(created),
            _day(seen),
        )
    return table


def prekeys_view(stage: Stage) -> Table:
    table = Table(title="public one-time prekeys", title_justify="left")
    for column in ("address", "kind", "left"):
        table.add_column(column)
    for handle, app, kind, count in stage.query(
        "SELECT a.handle, a.app, k.kind, count(*) FROM one_time_prekeys k "
        "JOIN devices d ON d.id = k.device_pk JOIN accounts a ON a.id = d.account_id "
        "GROUP BY a.id, k.kind ORDER BY a.id, k.kind"
    ):
        table.add_row(f"{handle}@{app}", PREKEY_KINDS.get(kind, kind), str(count))
    return table


def tables_view(stage: Stage) -> Table:
    table = Table(title=f"all of {stage.server.db_path.name}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for (name,) in stage.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        # The name comes from sqlite_master, not from input.
        (count,) = stage.query(f'SELECT count(*) FROM "{name}"')[0]  # noqa: S608
        table.add_row(name, str(count))
    return table


def log_view(stage: Stage) -> Panel:
    lines = stage.server.log_text().splitlines()
    shown = lines[-LOG_LINES_SHOWN:]
    return Panel(
        Text("\n".join(shown)),
        title=f"server log: {len(lines)} lines"
        + ("" if shown == lines else f", last {len(shown)}"),
        title_align="left",
    )


async def side_by_side(stage: Stage) -> None:
    announce(
        "What each person sees, and what the server holds",
        "Left and right: the people's own devices. Middle: the server's database file.",
    )
    a_sees = _seen_by(stage, "demo-a", "demo-b@photos")
    b_sees = _seen_by(stage, "demo-b", "demo-a@chat")
    table = Table(expand=True, show_lines=True)
    table.add_column("demo-a@chat sees", ratio=3)
    table.add_column("the server stored", ratio=3)
    table.add_column("demo-b@photos sees", ratio=3)
    for exchange in stage.exchanges:
        table.add_row(
            a_sees.get(exchange.message_id, ""),
            _server_cell(exchange),
            b_sees.get(exchange.message_id, ""),
        )
    console.print(table)
    console.print(accounts_view(stage))
    console.print(Columns([prekeys_view(stage), tables_view(stage)], padding=(0, 4)))
    console.print(log_view(stage))
