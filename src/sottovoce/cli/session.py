"""One person-facing command's use of the profile: open it, act, close it again.

Each command opens the profile, does one thing through the SDK and closes it, so
several terminals can share a profile; on the way out it shows the security
alerts the action raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from sottovoce.cli.alerts import show_security_alerts
from sottovoce.cli.failures import Failed
from sottovoce.cli.profile import Profile
from sottovoce.cli.render import JSON_OUTPUT
from sottovoce.client import Client
from sottovoce.client.errors import UnknownAccount

T = TypeVar("T")


def with_client(ctx: typer.Context, action: Callable[[Client], Awaitable[T]]) -> T:
    """Open the profile, run ``action`` on its client, close it again."""
    profile: Profile = ctx.obj

    async def opened() -> T:
        async with await Client.open(profile.directory, passphrase=profile.passphrase()) as client:
            try:
                return await action(client)
            except UnknownAccount as exc:
                raise Failed(f"{exc.address} does not exist on {client.server_url}") from None
            finally:
                # Ghost devices, swapped keys: at once, and never inside --json output.
                show_security_alerts(client, to_stderr=ctx.meta.get(JSON_OUTPUT, False))

    return asyncio.run(opened())
