"""Handing ``sottovoce server`` over to ``python -OO -m sottovoce.server``.

By the time the CLI runs a command it has imported Typer, Rich and the client
SDK, ~12 MiB that a server node would carry for its life and never use
(docs/performance.md, memory). So the command checks its options, then replaces
its own process with the server's entry point: same process id, so a
supervisor's signals reach the server; nothing of the CLI is left in memory.

The node runs with docstrings stripped (``-OO``): every imported module's
docstrings stay in memory for the process's life, ~4 MiB of a node's RSS, and
the server reads none of them. What it gives up: ``assert`` statements are
skipped (the server's own only narrow types; the tests run them unoptimized)
and ``/openapi.json`` has no descriptions taken from docstrings (docs/api.md is
the API's reference).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

SERVER_MODULE = "sottovoce.server"
# sys.flags.optimize under -OO: asserts and docstrings stripped.
DOCSTRINGS_STRIPPED = 2


def exec_server(args: list[str]) -> NoReturn:
    """Become ``python -OO -m sottovoce.server`` with these arguments."""
    _become([sys.executable, "-OO", "-m", SERVER_MODULE, *args])


def ensure_docstrings_stripped() -> None:
    """Run again under ``-OO`` when started without it (``python -m sottovoce.server``,
    as tests and the benchmark start a node), keeping the interpreter's other options.
    Called before the server stack is imported, so the first start costs ~20 ms."""
    if sys.flags.optimize < DOCSTRINGS_STRIPPED:
        _become([sys.executable, "-OO", *sys.orig_argv[1:]])


def _become(argv: list[str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    # This interpreter and a fixed module; the arguments are the operator's own options.
    os.execv(sys.executable, argv)  # noqa: S606
