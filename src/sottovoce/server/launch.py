"""Handing ``sottovoce server`` over to ``python -m sottovoce.server``.

By the time the CLI runs a command it has imported Typer, Rich and the client
SDK, ~12 MiB that a server node would carry for its life and never use
(docs/performance.md, memory). So the command checks its options, then replaces
its own process with the server's entry point: same process id, so a
supervisor's signals reach the server; nothing of the CLI is left in memory.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

SERVER_MODULE = "sottovoce.server"


def exec_server(args: list[str]) -> NoReturn:
    """Become ``python -m sottovoce.server`` with these arguments."""
    sys.stdout.flush()
    sys.stderr.flush()
    # This interpreter and a fixed module; the arguments are the operator's own options.
    os.execv(sys.executable, [sys.executable, "-m", SERVER_MODULE, *args])  # noqa: S606
