"""``make demo``: a real server, two people on two apps, and proof the server learned nothing.

The demo runs as a list of acts over one shared stage (server process, clients,
the texts exchanged), so later capabilities add an act rather than a new script.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from sottovoce.client import Client, ReceivedMessage
from sottovoce.server.process import ServerProcess

console = Console()


@dataclass
class Stage:
    workdir: Path
    server: ServerProcess
    people: dict[str, Client] = field(default_factory=dict)
    seen: dict[str, list[str]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    queue_snapshot: list[tuple[object, ...]] = field(default_factory=list)

    def note(self, who: str, line: str) -> None:
        self.seen.setdefault(who, []).append(line)


Act = Callable[[Stage], Awaitable[None]]


def server_rows(stage: Stage, query: str) -> list[tuple[object, ...]]:
    """Read the server's database the way a thief with a copy of it would."""
    uri = f"file:{stage.server.db_path}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        return list(conn.execute(query))


async def create_accounts(stage: Stage) -> None:
    console.rule("[bold]1. Two people, two apps, one network")
    for handle, app in (("demo-a", "chat"), ("demo-b", "photos")):
        client = await Client.create_account(stage.workdir / handle, stage.server.url, app, handle)
        stage.people[handle] = client
        console.print(f"created [bold]{client.address}[/] with its own keys on this device")


async def send_while_offline(stage: Stage) -> None:
    console.rule("[bold]2. demo-a writes while demo-b is offline")
    a = stage.people["demo-a"]
    for text in ("Hi from the chat app! Lunch on Friday?", "Bring the photos from the trip."):
        await a.send("demo-b@photos", text)
        stage.texts.append(text)
        stage.note("demo-a", f"→ {text}")
        console.print(f"demo-a → demo-b@photos: {text!r}")
    stage.queue_snapshot = server_rows(
        stage,
        "SELECT id, recipient_device_pk, sender, type, length(body), hex(substr(body, 1, 12)) "
        "FROM queued_messages ORDER BY id",
    )


async def come_online(stage: Stage) -> None:
    console.rule("[bold]3. demo-b comes online and receives what waited for it")
    for message in await stage.people["demo-b"].fetch():
        stage.note("demo-b", f"← {message.sender}: {message.text}")
        console.print(f"demo-b received from {message.sender}: {message.text!r}")


async def reply_live(stage: Stage) -> None:
    console.rule("[bold]4. demo-b replies; demo-a is connected and gets it live")
    a, b = stage.people["demo-a"], stage.people["demo-b"]
    received: list[ReceivedMessage] = []

    async def listen() -> None:
        async for message in a.listen():
            received.append(message)
            if len(received) == 2:
                return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    for text in ("Friday works. Photos are coming!", "Sent from the photos app 📷"):
        await b.send("demo-a@chat", text)
        stage.texts.append(text)
        stage.note("demo-b", f"→ {text}")
    await asyncio.wait_for(listener, timeout=10)
    for message in received:
        stage.note("demo-a", f"← {message.sender}: {message.text}")
        console.print(f"demo-a received live from {message.sender}: {message.text!r}")


async def show_what_each_sees(stage: Stage) -> None:
    console.rule("[bold]5. What each person sees, and what the server stored")
    panels = [
        Panel("\n".join(stage.seen.get(who, [])), title=f"{who} sees", width=48)
        for who in ("demo-a", "demo-b")
    ]
    queue = Table(title="server: queued ciphertext (while demo-b was offline)")
    for column in ("id", "to device", "sender", "type", "bytes", "first bytes"):
        queue.add_column(column)
    for row in stage.queue_snapshot:
        queue.add_row(*(str(v) for v in row))
    accounts = Table(title="server: accounts")
    for column in ("app", "handle", "created day", "device list version"):
        accounts.add_column(column)
    for row in server_rows(
        stage, "SELECT app, handle, created_day, device_list_version FROM accounts"
    ):
        accounts.add_row(*(str(v) for v in row))
    devices = Table(title="server: devices")
    for column in ("account", "device", "public identity (bytes)", "created day", "last seen day"):
        devices.add_column(column)
    for row in server_rows(
        stage,
        "SELECT account_id, device_id, length(identity), created_day, last_seen_day FROM devices",
    ):
        devices.add_row(*(str(v) for v in row))
    left = server_rows(stage, "SELECT count(*) FROM queued_messages")[0][0]
    console.print(Columns(panels))
    console.print(queue)
    console.print(Columns([accounts, devices]))
    console.print(f"messages still queued on the server after acknowledgement: {left}")


def forms(text: str) -> list[bytes]:
    raw = text.encode()
    return [raw, text.encode("utf-16-le"), base64.b64encode(raw)]


async def check_server_learned_nothing(stage: Stage) -> None:
    console.rule("[bold]6. Did any plaintext reach the server?")
    haystacks = {
        path.name: path.read_bytes()
        for path in stage.server.directory.iterdir()
        if path.name.startswith(stage.server.db_path.name) or path == stage.server.log_path
    }
    leaks = [
        f"{text!r} in {name}"
        for text in stage.texts
        for name, data in haystacks.items()
        for form in forms(text)
        if form in data
    ]
    searched = ", ".join(sorted(haystacks))
    if leaks:
        console.print(f"[bold red]FAIL[/]: plaintext found on the server: {'; '.join(leaks)}")
        raise SystemExit(1)
    console.print(
        f"[bold green]PASS[/]: none of the {len(stage.texts)} messages appears in any form "
        f"(UTF-8, UTF-16, base64) in {searched}"
    )


ACTS: list[Act] = [
    create_accounts,
    send_while_offline,
    come_online,
    reply_live,
    show_what_each_sees,
    check_server_learned_nothing,
]


async def run_acts(stage: Stage) -> None:
    try:
        for act in ACTS:
            await act(stage)
    finally:
        for client in stage.people.values():
            await client.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sottovoce-demo-") as tmp:
        workdir = Path(tmp)
        (workdir / "server").mkdir()
        with ServerProcess(workdir / "server") as server:
            console.print(
                Panel(
                    f"Sottovoce relay on {server.url} (SQLite: {server.db_path.name}); "
                    "apps: chat, photos",
                    title="Sottovoce demo",
                )
            )
            asyncio.run(run_acts(Stage(workdir, server)))
    sys.exit(0)


if __name__ == "__main__":
    main()
