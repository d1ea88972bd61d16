"""Handing ``sottovoce server`` over to ``python -OO -m sottovoce.server``.

By the time the CLI runs a command it has imported Typer, Rich and the client
SDK, ~12 MiB that a server node would carry for its life and never use
(docs/performance.md, memory). So the command checks its options, then replaces
its own process with the server's entry point: same process id, so a
supervisor's signals reach the server; nothing of the CLI is left in memory.

The node runs with the interpreter's :data:`NODE_OPTIONS`:

- ``-OO``: every imported module's docstrings stay in memory for the process's
  life, ~4 MiB of a node's RSS, and the server reads none of them. What it
  gives up: ``assert`` statements are skipped (the server's own only narrow
  types; the tests run them unoptimized) and ``/openapi.json`` has no
  descriptions taken from docstrings (docs/api.md is the API's reference).
- ``-X no_debug_ranges``: each code object keeps a table of the line *and
  columns* of every instruction; without the columns the tables of the ~20,000
  code objects a node loads are 1.0 MiB smaller. What it gives up: a
  traceback in the node's log names each line but no longer underlines the
  expression within it (``^^^^``).
- ``-X pycache_prefix``: compiled modules are cached per interpreter options
  only as far as ``-O`` goes, so the ones a node compiles without columns are
  kept in a tree of their own (:func:`node_pycache`), not beside the sources
  where a ``-OO`` process without the option would read them, or write its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

SERVER_MODULE = "sottovoce.server"
# sys.flags.optimize under -OO: asserts and docstrings stripped.
DOCSTRINGS_STRIPPED = 2
# sys._xoptions under -X no_debug_ranges.
NO_DEBUG_RANGES = "no_debug_ranges"


def node_pycache() -> Path:
    """The node's own tree of compiled modules, in the user's cache directory
    (XDG Base Directory Specification: ``$XDG_CACHE_HOME``, else ``~/.cache``).
    Where it cannot be written, the node compiles what it imports at every start."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sottovoce" / "node-pycache"


def node_options() -> list[str]:
    """The interpreter options a node runs under (module docstring); an operator's
    ``PYTHONPYCACHEPREFIX`` stays the node's tree of compiled modules."""
    options = ["-OO", "-X", NO_DEBUG_RANGES]
    if not os.environ.get("PYTHONPYCACHEPREFIX"):
        options += ["-X", f"pycache_prefix={node_pycache()}"]
    return options


def write_node_pycache() -> None:
    """Let the node write its compiled modules when they are in its own tree,
    whatever ``PYTHONDONTWRITEBYTECODE`` says: that setting keeps ``__pycache__``
    directories out of source trees, and this tree is beside none. A node that
    cannot find its modules compiled compiles them at every start, ~1 s of CPU
    and ~1.3 MiB of RSS that the compiler leaves behind."""
    if sys.pycache_prefix == str(node_pycache()):
        sys.dont_write_bytecode = False


def exec_server(args: list[str]) -> NoReturn:
    """Become ``python -OO ... -m sottovoce.server`` with these arguments."""
    _become([sys.executable, *node_options(), "-m", SERVER_MODULE, *args])


def ensure_node_options() -> None:
    """Run again under :func:`node_options` when started without them (``python -m
    sottovoce.server``, as tests and the benchmark start a node), keeping the
    interpreter's other options. Called before the server stack is imported, so
    the first start costs ~20 ms."""
    missing = []
    if sys.flags.optimize < DOCSTRINGS_STRIPPED:  # -O more, up to -OO
        missing.append("-" + "O" * (DOCSTRINGS_STRIPPED - sys.flags.optimize))
    if NO_DEBUG_RANGES not in sys._xoptions:
        missing += ["-X", NO_DEBUG_RANGES]
    if missing:
        if sys.pycache_prefix is None:  # as node_options()
            missing += ["-X", f"pycache_prefix={node_pycache()}"]
        _become([sys.executable, *missing, *sys.orig_argv[1:]])


def _become(argv: list[str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    # This interpreter and a fixed module; the arguments are the operator's own options.
    os.execv(sys.executable, argv)  # noqa: S606
