"""``sottovoce group …``: groups on MLS (docs/groups.md).

``create NAME``, ``add NAME ADDRESS`` (every device of that account), ``remove
NAME ADDRESS``, ``leave NAME``, ``send NAME TEXT``, ``update NAME`` (a fresh
commit for post-compromise security), ``history NAME`` and ``list``. Received
group messages show in ``inbox`` and ``listen`` with the group's name. Each
command first processes what is queued for this device, so it acts on the
group's current epoch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from sottovoce.cli.render import (
    JSON_OUTPUT,
    MessageRow,
    json_lines,
    message_table,
    one_line,
    out,
    plain,
    when,
)
from sottovoce.client import Client
from sottovoce.client.groups import GroupInfo, GroupMessage
from sottovoce.client.messages import ReceivedMessage

T = TypeVar("T")
WithClient = Callable[[typer.Context, Callable[[Client], Awaitable[T]]], T]

group_app = typer.Typer(help="Group conversations (MLS, RFC 9420).", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The group's name on this device.")]
AddressArgument = Annotated[str, typer.Argument(help="handle@app of the account.")]


def group_label(name: str) -> str:
    """How a group names itself in message lists: ``#name``."""
    return f"#{name}"


def sender_of(message: ReceivedMessage) -> str:
    """Who a received message is from as ``inbox`` and ``listen`` show it: the sender,
    and for a group message the group (``demo-a@chat #family``)."""
    if message.group is None:
        return message.sender
    if message.event is not None:  # the line's text names who did it
        return group_label(message.group)
    return f"{message.sender} {group_label(message.group)}"


def _members_line(info: GroupInfo) -> Text:
    return Text.assemble(
        plain(group_label(info.name), "bold"),
        f" (epoch {info.epoch}): ",
        plain(", ".join(info.members)),
    )


def register(app: typer.Typer, with_client: WithClient[Any]) -> None:
    """Add ``group`` to the main command line."""
    app.add_typer(group_app, name="group")

    def run(ctx: typer.Context, action: Callable[[Client], Awaitable[T]]) -> T:
        async def caught_up(client: Client) -> T:
            await client.fetch()
            return await action(client)

        result: T = with_client(ctx, caught_up)
        return result

    @group_app.command("create")
    def create(ctx: typer.Context, name: NameArgument) -> None:
        """Create a group with you (and your other devices) in it."""
        info = run(ctx, lambda client: client.groups.create(name))
        out.print(Text.assemble("created ", _members_line(info)))

    @group_app.command("add")
    def add(
        ctx: typer.Context,
        name: NameArgument,
        addresses: Annotated[list[str], typer.Argument(help="handle@app of each account.")],
    ) -> None:
        """Add every device of one or more accounts, on any app, in one commit."""
        info = run(ctx, lambda client: client.groups.add(name, *addresses))
        out.print(
            Text.assemble(
                "added ", plain(", ".join(addresses), "bold"), " to ", _members_line(info)
            )
        )

    @group_app.command("remove")
    def remove(ctx: typer.Context, name: NameArgument, address: AddressArgument) -> None:
        """Remove every device of an account; it cannot read what is sent afterwards."""
        info = run(ctx, lambda client: client.groups.remove(name, address))
        out.print(Text.assemble("removed ", plain(address, "bold"), " from ", _members_line(info)))

    @group_app.command("leave")
    def leave(ctx: typer.Context, name: NameArgument) -> None:
        """Leave a group and forget it on this device."""
        run(ctx, lambda client: client.groups.leave(name))
        out.print(Text.assemble("left ", plain(group_label(name), "bold")))

    @group_app.command("send")
    def send(
        ctx: typer.Context,
        name: NameArgument,
        text: Annotated[
            str, typer.Argument(help="The message (use -- before one starting with -).")
        ],
    ) -> None:
        """Send an end-to-end encrypted message to the group."""
        sent = run(ctx, lambda client: client.groups.send(name, text))
        out.print(
            Text.assemble("sent to ", plain(group_label(name), "bold"), f" at {when(sent.sent_at)}")
        )

    @group_app.command("update")
    def update(ctx: typer.Context, name: NameArgument) -> None:
        """Replace this device's group keys now (also done every 100 messages or 7 days)."""
        info = run(ctx, lambda client: client.groups.update(name))
        out.print(Text.assemble("updated keys in ", _members_line(info)))

    @group_app.command("list")
    def list_groups(ctx: typer.Context) -> None:
        """List the groups this device is in."""

        async def read(client: Client) -> list[GroupInfo]:
            return client.groups.all()

        groups = run(ctx, read)
        if not groups:
            out.print("no groups yet")
            return
        table = Table(title=f"{len(groups)} group(s)")
        table.add_column("group")
        table.add_column("epoch", justify="right")
        table.add_column("members")
        for info in groups:
            table.add_row(
                one_line(group_label(info.name)), str(info.epoch), one_line(", ".join(info.members))
            )
        out.print(table)

    @group_app.command("history")
    def history(
        ctx: typer.Context,
        name: NameArgument,
        limit: Annotated[int, typer.Option(min=1, help="How many of the latest messages.")] = 50,
        ids: Annotated[bool, typer.Option("--ids", help="Show message ids (for report).")] = False,
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON object a message, for scripts.")
        ] = False,
    ) -> None:
        """Show a group's messages, from this device's encrypted store."""

        async def read(client: Client) -> list[GroupMessage]:
            return client.groups.history(name, limit)

        ctx.meta[JSON_OUTPUT] = as_json
        messages = run(ctx, read)
        if as_json:
            json_lines(
                {
                    "id": m.message_id,
                    "time": m.sent_at.isoformat(),
                    "from": m.sender,
                    "group": m.group,
                    "text": m.text,
                }
                for m in messages
            )
            return
        rows: list[MessageRow] = [
            (m.sent_at, m.sender, (f"{m.message_id}  " if ids else "") + m.text) for m in messages
        ]
        if rows:
            out.print(message_table(f"messages in {group_label(name)}", rows))
        else:
            out.print(Text.assemble("no messages in ", plain(group_label(name))))
