"""Safety commands: message requests, blocking, forwarding, and the operator's
moderation desk (docs/safety.md).

People: ``requests`` (list), ``requests accept|delete|block|report ADDRESS``, ``block``,
``unblock``, ``blocked``, ``forward MESSAGE_ID ADDRESS...``. Operators:
``moderation --db DB reports|act|audit|standing``, working on the server's
database through the storage layer as ``sottovoce server --db`` does.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.text import Text

from sottovoce.cli.failures import Failed
from sottovoce.cli.render import ConversationRow, conversation_table, one_line, out, plain, when
from sottovoce.client import Client
from sottovoce.client.content import decode_content
from sottovoce.client.errors import InvalidMessage
from sottovoce.client.forwarding import label
from sottovoce.client.group_content import decode_group_content
from sottovoce.server.settings import DEFAULT_DB, database_url

T = TypeVar("T")
WithClient = Callable[[typer.Context, Callable[[Client], Awaitable[T]]], T]

requests_app = typer.Typer(
    help="Conversations strangers started: accept, delete or block them.",
    invoke_without_command=True,
)
moderation_app = typer.Typer(
    help="Operators: review verified reports, act on accounts, read the audit trail.",
    no_args_is_help=True,
)


def labelled(text: str, forwarded: int) -> str:
    """A message's text with its forwarding label in front, as clients show it."""
    tag = label(forwarded)
    return text if tag is None else f"[{tag}] {text}"


def request_hint() -> Text:
    return Text(
        "They do not know you have seen them: `sottovoce requests accept|delete|block ADDRESS`,"
        " or `sottovoce requests report ADDRESS --reason ...` to report and block."
    )


def register(app: typer.Typer, with_client: WithClient[Any]) -> None:
    """Add the safety commands to the main command line."""
    app.add_typer(requests_app, name="requests")
    app.add_typer(moderation_app, name="moderation")

    def _block(ctx: typer.Context, peer: str, report: bool) -> None:
        async def act(client: Client) -> None:
            await client.block(peer, report=report)

        with_client(ctx, act)
        how = " and reported the block to the server" if report else " on this device"
        out.print(Text.assemble("blocked ", plain(peer, "bold"), how))

    @requests_app.callback()
    def requests_list(ctx: typer.Context) -> None:
        """List message requests (the messages of people you never talked to)."""
        if ctx.invoked_subcommand is not None:
            return

        async def read(
            client: Client,
        ) -> tuple[list[ConversationRow], list[tuple[str, str, int]]]:
            return (
                [(r.peer, r.last_timestamp, r.last_text, r.unread) for r in client.requests()],
                [(r.group, r.invited_by, r.held) for r in client.group_requests()],
            )

        rows, groups = with_client(ctx, read)
        if rows:
            out.print(conversation_table(rows, "message requests", peer_heading="from"))
            out.print(request_hint())
        for group, by, held in groups:
            out.print(
                Text.assemble(
                    "group ", plain(f"#{group}", "bold"), " from ", plain(by, "bold"),
                    f": {held} message(s) held; `sottovoce requests join|decline GROUP`",
                )
            )  # fmt: skip
        if not rows and not groups:
            out.print("no message requests")

    @requests_app.command("join")
    def requests_join(
        ctx: typer.Context, group: Annotated[str, typer.Argument(help="The group's name.")]
    ) -> None:
        """Accept a stranger's group invite: its held messages show in `group history`."""

        async def accept(client: Client) -> None:
            client.accept_group_request(group)

        with_client(ctx, accept)
        out.print(Text.assemble("joined ", plain(f"#{group}", "bold")))

    @requests_app.command("decline")
    def requests_decline(
        ctx: typer.Context, group: Annotated[str, typer.Argument(help="The group's name.")]
    ) -> None:
        """Decline a stranger's group invite: leave the group and forget its messages."""

        async def decline(client: Client) -> None:
            await client.decline_group_request(group)

        with_client(ctx, decline)
        out.print(Text.assemble("left ", plain(f"#{group}", "bold")))

    @requests_app.command("accept")
    def requests_accept(
        ctx: typer.Context, peer: Annotated[str, typer.Argument(help="handle@app.")]
    ) -> None:
        """Accept: the conversation moves to your conversations."""

        async def accept(client: Client) -> None:
            await client.accept_request(peer)

        with_client(ctx, accept)
        out.print(Text.assemble("accepted the request from ", plain(peer, "bold")))

    @requests_app.command("delete")
    def requests_delete(
        ctx: typer.Context, peer: Annotated[str, typer.Argument(help="handle@app.")]
    ) -> None:
        """Delete the request and its messages; the sender is not told."""

        async def delete(client: Client) -> None:
            client.delete_request(peer)

        with_client(ctx, delete)
        out.print(Text.assemble("deleted the request from ", plain(peer, "bold")))

    @requests_app.command("block")
    def requests_block(
        ctx: typer.Context,
        peer: Annotated[str, typer.Argument(help="handle@app.")],
        report: Annotated[
            bool, typer.Option("--report", help="Also tell the server (block and report).")
        ] = False,
    ) -> None:
        """Delete the request and block its sender."""
        _block(ctx, peer, report)

    @requests_app.command("report")
    def requests_report(
        ctx: typer.Context,
        peer: Annotated[str, typer.Argument(help="handle@app.")],
        reason: Annotated[str, typer.Option(help="Why, for the operator (e.g. spam).")],
    ) -> None:
        """Report the request's messages to the operator, then block and report the sender."""

        async def act(client: Client) -> tuple[int, str]:
            filed = await client.report_request(peer, reason)
            return filed.report_id, filed.verification

        report_id, verification = with_client(ctx, act)
        out.print(
            Text.assemble(
                f"report {report_id} filed (verified by {verification}); blocked ",
                plain(peer, "bold"),
            )
        )

    @app.command()
    def block(
        ctx: typer.Context,
        peer: Annotated[str, typer.Argument(help="handle@app to block.")],
        report: Annotated[
            bool,
            typer.Option(
                "--report",
                help="Also tell the server, which then stops delivering their messages "
                "to you and counts the block as an abuse signal.",
            ),
        ] = False,
    ) -> None:
        """Block an account: whatever any of its devices sends is dropped unread."""
        _block(ctx, peer, report)

    @app.command()
    def unblock(
        ctx: typer.Context, peer: Annotated[str, typer.Argument(help="handle@app to unblock.")]
    ) -> None:
        """Unblock an account (a reported block is withdrawn too)."""

        async def act(client: Client) -> None:
            await client.unblock(peer)

        with_client(ctx, act)
        out.print(Text.assemble("unblocked ", plain(peer, "bold")))

    @app.command()
    def blocked(ctx: typer.Context) -> None:
        """List blocked accounts."""

        async def read(client: Client) -> list[tuple[str, bool, datetime]]:
            return [(b.address, b.reported, b.since) for b in client.blocked()]

        rows = with_client(ctx, read)
        if not rows:
            out.print("nobody is blocked")
        for address, reported, since in rows:
            note = " (reported)" if reported else ""
            out.print(Text.assemble(plain(address, "bold"), f" since {when(since)}{note}"))

    @app.command()
    def standing(ctx: typer.Context) -> None:
        """How the server holds this account: its standing, and why, if not good."""

        async def read(client: Client) -> tuple[str, bool, str, str | None]:
            status = await client.safety_status()
            return client.address, status.minor, status.standing, status.reason

        address, minor, state, reason = with_client(ctx, read)
        kind = "a minor's account" if minor else "an account"
        because = "" if reason is None or state == "ok" else f" (latest action: {reason})"
        out.print(
            Text.assemble(plain(address, "bold"), f" is {kind} in standing {state}", plain(because))
        )

    @app.command()
    def forward(
        ctx: typer.Context,
        message_id: Annotated[str, typer.Argument(help="Id of the message (history --ids).")],
        targets: Annotated[list[str], typer.Argument(help="handle@app of each chat.")],
    ) -> None:
        """Forward a message; one forwarded many times goes to at most 5 chats at once."""

        async def act(client: Client) -> list[str]:
            return [m.recipient for m in await client.forward(message_id, targets)]

        sent = with_client(ctx, act)
        out.print(Text.assemble("forwarded to ", plain(", ".join(sent), "bold")))


# -- operators -----------------------------------------------------------------


def _moderate(db: str, action: Callable[[Any], Awaitable[T]], redis_url: str | None = None) -> T:
    # Imported here: the storage stack is only needed by operators.
    from sottovoce.server.abuse.moderation import Moderation, ModerationError

    async def run() -> T:
        desk = await Moderation.open(database_url(db), redis_url)
        try:
            return await action(desk)
        except ModerationError as exc:
            raise Failed(str(exc)) from None
        finally:
            await desk.close()

    return asyncio.run(run())


Db = Annotated[str, typer.Option(help="The server's database (as `sottovoce server --db`).")]


def _moment(ms: int) -> str:
    return when(datetime.fromtimestamp(ms / 1000, UTC))


def revealed_text(content: bytes, *, in_group: bool = False) -> str:
    """What a reporter revealed, as its recipient saw it (group content has its own
    encoding, ``client.group_content``)."""
    try:
        if in_group:
            return decode_group_content(content).value
        return labelled(*_text_and_count(content))
    except InvalidMessage:
        return f"<{len(content)} bytes this CLI cannot show as text>"


def _text_and_count(content: bytes) -> tuple[str, int]:
    decoded = decode_content(content)
    return decoded.text, decoded.forwarded


@moderation_app.command("reports")
def moderation_reports(
    db: Db = DEFAULT_DB,
    account: Annotated[str | None, typer.Option(help="Only reports about this handle@app.")] = None,
    after: Annotated[int, typer.Option(min=0, help="Only reports after this id.")] = 0,
) -> None:
    """Verified reports: who reported whom, why, and the messages they revealed."""
    reports = _moderate(db, lambda desk: desk.reports(account, after))
    if not reports:
        out.print("no reports")
    for report in reports:
        out.print(
            Text.assemble(
                (f"report {report.id}", "bold"),
                f" {_moment(report.created_ms)} ",
                plain(report.reporter),
                " reported ",
                plain(report.reported or "an unknown sender", "bold red"),
                f" (verified by {report.verification}): ",
                one_line(report.reason),
            ),
            soft_wrap=True,
        )
        for message in report.messages:
            out.print(
                Text.assemble(
                    f"  {_moment(message.server_ts)} ",
                    ""
                    if message.group_id is None
                    else f"in group {base64.urlsafe_b64encode(message.group_id).decode()}: ",
                    one_line(revealed_text(message.content, in_group=message.group_id is not None)),
                ),
                soft_wrap=True,
            )


@moderation_app.command("act")
def moderation_act(
    address: Annotated[str, typer.Argument(help="handle@app of the account.")],
    action: Annotated[str, typer.Argument(help="warn, restrict, suspend or restore.")],
    reason: Annotated[str, typer.Option(help="Why: recorded in the audit trail.")],
    report: Annotated[int | None, typer.Option(help="The report this acts on.")] = None,
    db: Db = DEFAULT_DB,
    redis: Annotated[
        str | None,
        typer.Option(help="The nodes' Redis URL: a suspension closes live connections at once."),
    ] = None,
) -> None:
    """Warn, restrict, suspend or restore an account, with a reason."""
    action_id = _moderate(db, lambda desk: desk.act(address, action, reason, report), redis)
    out.print(Text.assemble(f"action {action_id}: {action} ", plain(address, "bold")))


@moderation_app.command("audit")
def moderation_audit(
    address: Annotated[str | None, typer.Argument(help="Only this handle@app.")] = None,
    db: Db = DEFAULT_DB,
    limit: Annotated[int, typer.Option(min=1, help="How many of the latest actions.")] = 100,
) -> None:
    """Every moderation action, newest first: who acted, why, on which signals."""
    actions = _moderate(db, lambda desk: desk.audit(address, limit))
    if not actions:
        out.print("no moderation actions")
        return
    for a in actions:
        out.print(
            Text.assemble(
                (f"action {a.id}", "bold"),
                f" {_moment(a.created_ms)} ",
                (a.action, "bold red" if a.action == "suspend" else "bold"),
                " ",
                plain(a.address, "bold"),
                f" by {a.actor}: ",
                one_line(a.reason),
                "  signals ",
                one_line(json.dumps(a.signals, sort_keys=True)),
            ),
            soft_wrap=True,
        )


@moderation_app.command("standing")
def moderation_standing(
    address: Annotated[str | None, typer.Argument(help="One handle@app; else all not ok.")] = None,
    db: Db = DEFAULT_DB,
) -> None:
    """An account's standing, or every account not in good standing."""
    if address is not None:
        standing = _moderate(db, lambda desk: desk.standing(address))
        minor = ", a minor's account" if standing.is_minor else ""
        out.print(Text.assemble(plain(address, "bold"), f": {standing.standing}{minor}"))
        return
    standings = _moderate(db, lambda desk: desk.not_in_good_standing())
    if not standings:
        out.print("every account is in good standing")
    for who, state in sorted(standings.items()):
        out.print(Text.assemble(plain(who, "bold"), f": {state}"))
