"""The command line's consoles are one fixed width in every test.

Rich fixes a console's width when the console is created, from ``COLUMNS`` when
that is set (pytest-xdist's workers set it to 80), and otherwise measures the
terminal at every print (a developer's terminal, under plain pytest). So the
``env={"COLUMNS": ...}`` a ``CliRunner`` passes never reaches
``sottovoce.cli.render``'s consoles, and a table wrapped one way on CI and
another on a laptop. Pinned here to what CI's workers use, a test reads the
same layout wherever it runs; what a script must parse has ``--json``.
"""

from __future__ import annotations

import pytest

from sottovoce.cli import render

CLI_WIDTH = 80


def pytest_configure(config: pytest.Config) -> None:
    for console in (render.out, render.err):
        console.width = CLI_WIDTH
