"""``sottovoce report MESSAGE_ID... --reason TEXT``: report received messages.

The messages' content, franking keys and tags go to the server, which verifies
that it delivered exactly this content to you before it stores the report
(docs/safety.md). Message ids come from ``sottovoce history ADDRESS --ids``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.text import Text

from sottovoce.cli.failures import Failed
from sottovoce.cli.render import out, plain
from sottovoce.client import Client
from sottovoce.client.errors import ServerError
from sottovoce.client.franking import FiledReport

T = TypeVar("T")
WithClient = Callable[[typer.Context, Callable[[Client], Awaitable[T]]], T]

# What each verification says about the sender, in the words a person reads.
ATTRIBUTION = {
    "request-signature": "the sender signed the send, so the server knows it was them",
    "sender-certificate": "sealed: the sender is named by the certificate the server issued",
}


def register(app: typer.Typer, with_client: WithClient[Any]) -> None:
    """Add ``report`` to the main command line."""

    @app.command()
    def report(
        ctx: typer.Context,
        message_ids: Annotated[
            list[str], typer.Argument(help="Ids of received messages (history --ids).")
        ],
        reason: Annotated[str, typer.Option(help="Why you report them, in a sentence.")],
    ) -> None:
        """Report received messages to the operator, who can verify they were sent."""

        async def file(client: Client) -> FiledReport:
            try:
                return await client.report(message_ids, reason)
            except ServerError as exc:
                if exc.status in (409, 422):
                    raise Failed(f"the server refused the report: {exc.detail}") from None
                raise

        filed = with_client(ctx, file)
        out.print(
            Text.assemble(
                f"report {filed.report_id} filed about ",
                plain(filed.reported, "bold"),
                f" ({ATTRIBUTION.get(filed.verification, filed.verification)})",
            )
        )
