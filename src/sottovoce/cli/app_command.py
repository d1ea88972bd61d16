"""``sottovoce app``: open the chat app in a browser tab, served by this process.

The keys never leave this machine: the page talks to this process on
127.0.0.1, which talks to the server through the SDK (docs/app.md).
"""

from __future__ import annotations

import sys
import webbrowser
from typing import Annotated

import typer

from sottovoce.app.session import FEED_QUEUE, TRANSPARENCY_WATCH_S
from sottovoce.cli.profile import Profile


def app_command(
    ctx: typer.Context,
    server_url: Annotated[
        str | None,
        typer.Option("--server", help="Server URL proposed when signing up."),
    ] = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Loopback port (0: any free one).")
    ] = 0,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the default browser.")
    ] = True,
    transparency_watch: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds between checks of the key-transparency log for changes "
            "to this account that its owner did not make.",
        ),
    ] = TRANSPARENCY_WATCH_S,
    feed_queue: Annotated[
        int,
        typer.Option(
            min=1,
            help="Events an open window may fall behind before it re-reads what it shows.",
        ),
    ] = FEED_QUEUE,
) -> None:
    """Serve the chat app on 127.0.0.1 for this profile and open it (Ctrl-C stops)."""
    from sottovoce.app.run import serve

    profile: Profile = ctx.obj

    def ready(url: str) -> None:
        # The URL holds the one-time secret: printed for this person only, never logged.
        sys.stdout.write(f"open {url}\n")
        sys.stdout.flush()
        if browser:
            webbrowser.open(url)

    serve(
        profile.directory,
        server_url,
        port,
        ready,
        transparency_watch_s=transparency_watch,
        feed_queue=feed_queue,
    )
