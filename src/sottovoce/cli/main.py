"""``sottovoce``: the command line for people (accounts, messages) and operators (server).

Each person-facing command opens the profile, does one thing through the SDK
(``sottovoce.client``) and closes it again (``session``), so several terminals can
share a profile. Failures of any kind become one line on stderr (``failures``); what
other people wrote is shown literally, never interpreted (``render``).
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from sottovoce.cli import backup as backup_commands
from sottovoce.cli import groups as group_commands
from sottovoce.cli import reports, safety
from sottovoce.cli.app_command import app_command
from sottovoce.cli.devices import audit, device_app, tree_head, verify
from sottovoce.cli.failures import Failed, OneLineErrors
from sottovoce.cli.legal import legal_app
from sottovoce.cli.profile import PROFILE_ENV, Profile, default_profile
from sottovoce.cli.render import (
    JSON_OUTPUT,
    ConversationRow,
    MessageRow,
    StderrLog,
    conversation_table,
    identity_warning,
    json_lines,
    live_line,
    message_table,
    out,
    plain,
    when,
)
from sottovoce.cli.session import with_client
from sottovoce.client import Client, HistoryEntry
from sottovoce.client.errors import ServerError
from sottovoce.server.settings import DEFAULT_DB, Settings, Transparency, database_url

# `sottovoce server` starts like `python -m sottovoce.server` when not told otherwise.
SERVER_DEFAULTS = Settings()
# A screenful of the latest messages; --limit shows more.
HISTORY_DEFAULT_LIMIT = 50

app = typer.Typer(
    cls=OneLineErrors,
    help="Sottovoce: end-to-end encrypted messaging across apps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
account_app = typer.Typer(help="Create and inspect this device's account.", no_args_is_help=True)
contact_app = typer.Typer(help="Check and accept contacts' identity keys.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(contact_app, name="contact")
app.add_typer(device_app, name="device")
app.command()(verify)
app.command("head")(tree_head)
app.command()(audit)
app.add_typer(legal_app, name="legal")  # lawful requests (docs/legal.md)
app.command("app")(app_command)  # the local web app (docs/app.md)


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def _show_sdk_logs(verbose: bool) -> None:
    """SDK warnings (a message dropped, held or not yet acknowledged) on stderr; with
    --verbose its progress too. Installed once per invocation, replacing an earlier one."""
    logger = logging.getLogger("sottovoce")
    for handler in [h for h in logger.handlers if isinstance(h, StderrLog)]:
        logger.removeHandler(handler)
    handler = StderrLog(logging.DEBUG if verbose else logging.WARNING)
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.DEBUG)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        Path | None,
        typer.Option(
            envvar=PROFILE_ENV,
            help="Profile directory holding this device's keys and messages.",
            show_default="$XDG_DATA_HOME/sottovoce/default",
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            help="File whose first line unlocks the profile (else $SOTTOVOCE_PASSPHRASE, "
            "else the profile's key file).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the SDK's progress on stderr.")
    ] = False,
) -> None:
    # The server configures its own logging (sottovoce.server.run).
    if ctx.invoked_subcommand != "server":
        _show_sdk_logs(verbose)
    ctx.obj = Profile((profile or default_profile()).expanduser(), passphrase_file)


def _warn_about_identity_changes(addresses: list[str]) -> None:
    if addresses:
        out.print(identity_warning(addresses))


@app.command()
def server(
    db: Annotated[
        str,
        typer.Option(help="SQLite file, or database URL (sqlite:///…, postgresql://user@host/db)."),
    ] = DEFAULT_DB,
    redis: Annotated[
        str | None,
        typer.Option(help="Redis URL (redis://host:port/0): run as one of many nodes."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = SERVER_DEFAULTS.host,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port to listen on.")
    ] = SERVER_DEFAULTS.port,
    apps: Annotated[
        str,
        typer.Option(
            help="Comma-separated names of the apps served; name:minors for an app that "
            "marks minors (docs/safety.md)."
        ),
    ] = ",".join(SERVER_DEFAULTS.apps),
    app_policy: Annotated[
        Path | None, typer.Option(help="TOML file of per-app minor policies (docs/safety.md).")
    ] = None,
    log_level: Annotated[LogLevel, typer.Option(help="Server log verbosity.")] = LogLevel.info,
    log_key_file: Annotated[
        Path | None,
        typer.Option(help="Raw 32-byte Ed25519 key signing the transparency log (else in the db)."),
    ] = None,
    epoch_seconds: Annotated[
        float, typer.Option(min=0.1, help="Seconds between signed transparency tree heads.")
    ] = SERVER_DEFAULTS.transparency.epoch_interval_s,
    blob_dir: Annotated[
        Path | None,
        typer.Option(
            help="Directory of attachment ciphertext files (default: 'blobs' beside the "
            "SQLite file); nodes sharing one PostgreSQL need it on shared storage."
        ),
    ] = None,
) -> None:
    """Run the relay server (an embedded SQLite file by default)."""
    # Imported here: the server stack (FastAPI, SQLAlchemy, uvicorn) is only
    # needed by this command, and loading it would slow every other one.
    from sottovoce.server.abuse.policy import served_apps
    from sottovoce.server.launch import exec_server

    try:  # checked here, so that a bad option is a one-line error
        served, policies = served_apps(apps, app_policy)
        Settings(
            db_url=database_url(db),
            host=host,
            port=port,
            apps=served,
            app_policies=policies,
            log_level=log_level.value,
            redis_url=redis,
            transparency=Transparency(key_file=log_key_file, epoch_interval_s=epoch_seconds),
            blob_dir=blob_dir,
        )
    except ValueError as exc:
        raise Failed(str(exc)) from None
    # The node runs as `python -m sottovoce.server`, without this CLI in its memory.
    args = ["--db", db, "--host", host, "--port", str(port), "--apps", apps]
    args += ["--log-level", log_level.value, "--epoch-seconds", repr(epoch_seconds)]
    optional = {
        "--redis": redis,
        "--app-policy": app_policy,
        "--log-key-file": log_key_file,
        "--blob-dir": blob_dir,
    }
    for option, value in optional.items():
        if value is not None:
            args += [option, str(value)]
    exec_server(args)


@account_app.command("create")
def account_create(
    ctx: typer.Context,
    server_url: Annotated[
        str, typer.Option("--server", help="Server URL, e.g. http://127.0.0.1:8000.")
    ],
    app_name: Annotated[str, typer.Option("--app", help="The app to join, e.g. chat.")],
    handle: Annotated[str, typer.Option(help="Your handle, unique within the app.")],
    minor: Annotated[
        bool, typer.Option("--minor", help="A minor's account, on an app that marks minors.")
    ] = False,
) -> None:
    """Create an account and this device's keys in the profile directory."""
    profile: Profile = ctx.obj

    async def create() -> str:
        try:
            client = await Client.create_account(
                profile.directory,
                server_url,
                app_name,
                handle,
                passphrase=profile.passphrase(),
                minor=minor,
            )
        except ServerError as exc:
            if exc.problem_type == "handle-taken":
                raise Failed(f"{handle}@{app_name} is already taken on {server_url}") from None
            if exc.problem_type == "unknown-app":
                raise Failed(f"{server_url} serves no app named {app_name!r}") from None
            raise
        await client.close()
        return client.address

    address = asyncio.run(create())
    out.print(
        Text.assemble(
            "created ", plain(address, "bold"), f" (device 1); its keys are in {profile.directory}"
        )
    )


@account_app.command("show")
def account_show(ctx: typer.Context) -> None:
    """Show this profile's address, device and server."""

    async def show(client: Client) -> tuple[str, int, str, list[str]]:
        return (
            client.address,
            client.device_id,
            client.server_url,
            client.pending_identity_changes(),
        )

    address, device_id, server_url, changed = with_client(ctx, show)
    out.print(Text.assemble(plain(address, "bold"), f" device {device_id} on {server_url}"))
    _warn_about_identity_changes(changed)


@app.command()
def send(
    ctx: typer.Context,
    recipient: Annotated[str, typer.Argument(help="handle@app of the recipient.")],
    text: Annotated[str, typer.Argument(help="The message (use -- before one starting with -).")],
) -> None:
    """Send an end-to-end encrypted message."""

    async def deliver(client: Client) -> str:
        return when((await client.send(recipient, text)).sent_at)

    sent_at = with_client(ctx, deliver)
    out.print(Text.assemble("sent to ", plain(recipient, "bold"), f" at {sent_at}"))


@app.command()
def inbox(ctx: typer.Context) -> None:
    """Fetch, decrypt and show new messages."""

    async def fetch(client: Client) -> tuple[list[MessageRow], list[MessageRow], list[str]]:
        messages = await client.fetch()
        rows: list[MessageRow] = []
        requested: list[MessageRow] = []
        for m in messages:
            # Message requests (strangers' first messages) are shown apart.
            # Group messages never are: someone in the group added this device.
            stranger = m.group is None and client.is_request(m.sender)
            (requested if stranger else rows).append(
                (m.sent_at, group_commands.sender_of(m), safety.labelled(m.text, m.forwarded))
            )
        return rows, requested, client.pending_identity_changes()

    rows, requested, changed = with_client(ctx, fetch)
    if rows:
        out.print(message_table(f"{len(rows)} new message(s)", rows))
    elif not requested:
        out.print("no new messages")
    if requested:
        title = f"{len(requested)} new message(s) in message requests"
        out.print(message_table(title, requested))
        out.print(safety.request_hint())
    _warn_about_identity_changes(changed)


@app.command()
def listen(ctx: typer.Context) -> None:
    """Stay connected and print messages as they arrive (Ctrl-C to stop)."""

    async def follow(client: Client) -> None:
        _warn_about_identity_changes(client.pending_identity_changes())
        # One fetch first: an unreachable server is reported at once instead of
        # being retried in silence, and whatever waited is shown before "listening".
        for message in await client.fetch():
            out.print(live_line(message.sent_at, group_commands.sender_of(message), message.text))
        out.print(Text.assemble("listening as ", plain(client.address, "bold"), " (Ctrl-C stops)"))
        async for message in client.listen():
            out.print(live_line(message.sent_at, group_commands.sender_of(message), message.text))

    with_client(ctx, follow)


@app.command()
def history(
    ctx: typer.Context,
    peer: Annotated[str, typer.Argument(help="handle@app of the other person.")],
    limit: Annotated[
        int, typer.Option(min=1, help="How many of the latest messages.")
    ] = HISTORY_DEFAULT_LIMIT,
    ids: Annotated[
        bool, typer.Option("--ids", help="Show message ids (for forward and report).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object a message, for scripts.")
    ] = False,
) -> None:
    """Show the conversation with one person, from this device's encrypted store."""

    async def read(client: Client) -> tuple[str, list[HistoryEntry]]:
        return client.address, client.history(peer, limit)

    ctx.meta[JSON_OUTPUT] = as_json
    address, entries = with_client(ctx, read)
    if as_json:
        json_lines(
            {
                "id": e.message_id,
                "time": e.timestamp.isoformat(),
                "from": address if e.direction == "out" else e.peer,
                "direction": e.direction,
                "text": e.text,
                "forwarded": e.forwarded,
            }
            for e in entries
        )
        return
    rows = [
        (
            e.timestamp,
            address if e.direction == "out" else e.peer,
            (f"{e.message_id}  " if ids else "") + safety.labelled(e.text, e.forwarded),
        )
        for e in entries
    ]
    if rows:
        out.print(message_table(f"conversation with {peer}", rows))
    else:
        out.print(Text.assemble("no messages with ", plain(peer)))


@app.command()
def conversations(ctx: typer.Context) -> None:
    """List conversations, the most recent first."""

    async def read(client: Client) -> tuple[list[ConversationRow], list[str]]:
        rows = [
            (c.peer, c.last_timestamp, c.last_text, c.unread)
            for c in client.conversations()
            if not c.request  # listed by `sottovoce requests`
        ]
        return rows, client.pending_identity_changes()

    rows, changed = with_client(ctx, read)
    if rows:
        out.print(conversation_table(rows))
    else:
        out.print("no conversations yet")
    _warn_about_identity_changes(changed)


@contact_app.command("trust")
def contact_trust(
    ctx: typer.Context,
    peer: Annotated[str, typer.Argument(help="handle@app whose new identity key you checked.")],
) -> None:
    """Accept a contact's changed identity key, after checking it with them."""

    async def trust(client: Client) -> None:
        client.trust_identity(peer)

    with_client(ctx, trust)
    out.print(
        Text.assemble(
            "now trusting the new identity key of ",
            plain(peer, "bold"),
            "; messages held meanwhile arrive with the next `sottovoce inbox`",
        )
    )


# Requests, block, unblock, blocked, forward and moderation (docs/safety.md).
safety.register(app, with_client)
# Reporting received messages with their franking (docs/safety.md).
reports.register(app, with_client)
# Groups on MLS: create, add, remove, leave, send, update, list, history (docs/groups.md).
group_commands.register(app, with_client)
# Encrypted backup: export and restore (docs/app.md).
backup_commands.register(app, with_client)
