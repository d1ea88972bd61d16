"""``make demo``: a real server, two people on two apps, and proof the server learned nothing.

The demo is a list of acts played in order on one shared :class:`Stage` (the
server process, the people's clients, every message exchanged). A new
capability of the system adds an act to ``ACTS`` (one module of acts per
capability in this package) instead of a new script. An act that finds
something wrong records it on the stage; the demo then ends with FAIL and a
non-zero exit code.

The server is the one an operator runs (``python -m sottovoce.server``, via
``ServerProcess``), on a free loopback port with its SQLite file in a temporary
directory that is removed at the end. What it stored is read straight from
that file with the standard library, read-only, as a thief with a copy of the
disk would read it.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from rich.panel import Panel
from rich.text import Text

from sottovoce.client.errors import ClientError
from sottovoce.demo.checks import check_every_message_arrived, check_server_learned_nothing
from sottovoce.demo.devices import a_ghost_device_is_caught, a_second_device_for_demo_a
from sottovoce.demo.groups import a_group_across_apps
from sottovoce.demo.legal import a_lawful_request
from sottovoce.demo.one_to_one import (
    come_online,
    listen_live,
    reply_while_offline,
    sealed_between_contacts,
    two_people_two_apps,
    write_while_offline,
)
from sottovoce.demo.safety import a_stranger_is_reported
from sottovoce.demo.server_view import side_by_side
from sottovoce.demo.stage import Act, Stage, console
from sottovoce.demo.web_app import two_windows_in_the_app
from sottovoce.server.process import ServerProcess

APPS = "chat,photos"

ACTS: list[Act] = [
    two_people_two_apps,
    write_while_offline,
    come_online,
    reply_while_offline,
    listen_live,
    sealed_between_contacts,
    side_by_side,
    a_group_across_apps,  # before the checks: its texts are searched too
    a_second_device_for_demo_a,  # linked devices and safety numbers (docs/transparency.md)
    a_ghost_device_is_caught,
    two_windows_in_the_app,  # the local web app in headless Chromium (docs/app.md)
    check_every_message_arrived,
    check_server_learned_nothing,
    a_stranger_is_reported,  # after the search: a report reveals its text on purpose
    a_lawful_request,  # a warrant answered with what exists (docs/legal.md)
]


async def play(stage: Stage) -> None:
    try:
        for act in ACTS:
            await act(stage)
    finally:
        for client in stage.people.values():
            await client.close()


def run(workdir: Path) -> list[str]:
    """Play every act against a fresh server in ``workdir``; the failures found."""
    (workdir / "server").mkdir()
    with ServerProcess(workdir / "server", apps=APPS) as server:
        console.print(
            Panel(
                f"A real Sottovoce server on {server.url}, serving the apps "
                f"{APPS.replace(',', ' and ')} from one SQLite file in a temporary directory.",
                title="Sottovoce demo",
                title_align="left",
            )
        )
        stage = Stage(workdir, server)
        asyncio.run(play(stage))
    return stage.failures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sottovoce-demo-") as tmp:
        try:
            failures = run(Path(tmp))
        except (ClientError, RuntimeError) as exc:  # the server would not start, or a step broke
            failures = [f"the demo stopped: {exc}"]
    console.print()
    if failures:
        console.print(Panel(Text("\n".join(failures)), title="FAIL", border_style="bold red"))
        return 1
    console.print(Panel("every check passed", title="PASS", border_style="bold green"))
    return 0
