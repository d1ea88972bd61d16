"""``sottovoce``: the command line for people (accounts, messages) and operators (server)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sottovoce.client import Client
from sottovoce.client.errors import ClientError

T = TypeVar("T")

DEFAULT_PROFILE = (
    Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    / "sottovoce"
    / "default"
)

app = typer.Typer(
    help="Sottovoce: end-to-end encrypted messaging across apps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
account_app = typer.Typer(help="Create and inspect this device's account.", no_args_is_help=True)
contact_app = typer.Typer(help="Manage contacts' identity keys.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(contact_app, name="contact")

out = Console()
err = Console(stderr=True, soft_wrap=True)


@dataclass
class Options:
    profile: Path
    passphrase: str | None


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


def run(action: Callable[[], Awaitable[T]]) -> T:
    """Run one async command; every expected failure becomes one line on stderr."""
    try:
        return asyncio.run(action())
    except ClientError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        Path,
        typer.Option(
            envvar="SOTTOVOCE_PROFILE", help="Profile directory holding this device's keys."
        ),
    ] = DEFAULT_PROFILE,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="File whose first line is the profile passphrase."),
    ] = None,
) -> None:
    passphrase = os.environ.get("SOTTOVOCE_PASSPHRASE")
    if passphrase_file is not None:
        try:
            passphrase = passphrase_file.read_text().splitlines()[0]
        except (OSError, IndexError):
            raise fail(f"cannot read a passphrase from {passphrase_file}") from None
    ctx.obj = Options(profile, passphrase)


async def _open(options: Options) -> Client:
    return await Client.open(options.profile, passphrase=options.passphrase)


@app.command()
def server(
    db: Annotated[str, typer.Option(help="SQLite path or database URL.")] = "sottovoce-server.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    apps: Annotated[str, typer.Option(help="Comma-separated app names served.")] = "chat,photos",
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the relay server (embedded SQLite by default)."""
    from sottovoce.server.run import serve
    from sottovoce.server.settings import Settings, database_url

    try:
        settings = Settings(
            db_url=database_url(db),
            host=host,
            port=port,
            apps=tuple(a.strip() for a in apps.split(",") if a.strip()),
            log_level=log_level,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    serve(settings)


@account_app.command("create")
def account_create(
    ctx: typer.Context,
    server_url: Annotated[str, typer.Option("--server", help="Server URL.")],
    app_name: Annotated[str, typer.Option("--app", help="App namespace, e.g. chat.")],
    handle: Annotated[str, typer.Option(help="Handle, unique within the app.")],
) -> None:
    """Create an account and this device's keys in the profile directory."""
    options: Options = ctx.obj

    async def action() -> str:
        client = await Client.create_account(
            options.profile, server_url, app_name, handle, passphrase=options.passphrase
        )
        await client.close()
        return client.address

    address = run(action)
    out.print(f"created [bold]{address}[/] (device 1) in {options.profile}", highlight=False)


@account_app.command("show")
def account_show(ctx: typer.Context) -> None:
    """Show this profile's address, device and server."""
    options: Options = ctx.obj

    async def action() -> tuple[str, int, str]:
        async with await _open(options) as client:
            return client.address, client.device_id, client.server_url

    address, device_id, server_url = run(action)
    out.print(f"{address} device {device_id} on {server_url}", highlight=False)


@app.command()
def send(
    ctx: typer.Context,
    recipient: Annotated[str, typer.Argument(help="handle@app of the recipient.")],
    text: Annotated[str, typer.Argument(help="The message.")],
) -> None:
    """Send an end-to-end encrypted message."""
    options: Options = ctx.obj

    async def action() -> str:
        async with await _open(options) as client:
            return (await client.send(recipient, text)).message_id

    message_id = run(action)
    out.print(f"sent to {recipient} (id {message_id})", highlight=False)


def _print_messages(title: str, rows: list[tuple[str, str, str]]) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("when")
    table.add_column("who")
    table.add_column("message")
    for when, who, text in rows:
        table.add_row(when, who, text)
    out.print(table)


@app.command()
def inbox(ctx: typer.Context) -> None:
    """Fetch and show new messages."""
    options: Options = ctx.obj

    async def action() -> list[tuple[str, str, str]]:
        async with await _open(options) as client:
            messages = await client.fetch()
        return [(m.sent_at.strftime("%Y-%m-%d %H:%M"), m.sender, m.text) for m in messages]

    rows = run(action)
    if not rows:
        out.print("no new messages")
        return
    _print_messages(f"{len(rows)} new message(s)", rows)


@app.command()
def listen(ctx: typer.Context) -> None:
    """Stay connected and print messages as they arrive (Ctrl-C to stop)."""
    options: Options = ctx.obj

    async def action() -> None:
        async with await _open(options) as client:
            out.print(f"listening as {client.address}…", highlight=False)
            async for message in client.listen():
                out.print(
                    f"[dim]{message.sent_at:%H:%M:%S}[/] [bold]{message.sender}[/]: {message.text}",
                    highlight=False,
                )

    run(action)


@app.command()
def history(
    ctx: typer.Context,
    peer: Annotated[str, typer.Argument(help="handle@app of the other person.")],
    limit: Annotated[int, typer.Option(help="How many recent messages.")] = 50,
) -> None:
    """Show the conversation with one person, from the local encrypted store."""
    options: Options = ctx.obj

    async def action() -> list[tuple[str, str, str]]:
        async with await _open(options) as client:
            entries = client.history(peer, limit)
            me = client.address
        return [
            (e.timestamp.strftime("%Y-%m-%d %H:%M"), me if e.direction == "out" else peer, e.text)
            for e in entries
        ]

    rows = run(action)
    if not rows:
        out.print(f"no messages with {peer}", highlight=False)
        return
    _print_messages(f"conversation with {peer}", rows)


@app.command()
def conversations(ctx: typer.Context) -> None:
    """List conversations, newest first, with unread counts."""
    options: Options = ctx.obj

    async def action() -> list[tuple[str, str, str, int]]:
        async with await _open(options) as client:
            return [
                (c.peer, c.last_timestamp.strftime("%Y-%m-%d %H:%M"), c.last_text, c.unread)
                for c in client.conversations()
            ]

    rows = run(action)
    table = Table(title="conversations", title_justify="left")
    for column in ("with", "last", "message", "unread"):
        table.add_column(column)
    for peer, when, text, unread in rows:
        table.add_row(peer, when, text, str(unread) if unread else "")
    out.print(table)


@contact_app.command("trust")
def contact_trust(
    ctx: typer.Context,
    peer: Annotated[str, typer.Argument(help="handle@app whose new identity you checked.")],
) -> None:
    """Accept a contact's changed identity key after checking it with them."""
    options: Options = ctx.obj

    async def action() -> None:
        async with await _open(options) as client:
            client.trust_identity(peer)

    run(action)
    out.print(f"now trusting the new identity of {peer}", highlight=False)
