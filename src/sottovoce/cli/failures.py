"""Every way a command can fail ends here, as one line on stderr and an exit code.

A person reading ``error: demo-b@photos does not exist on http://127.0.0.1:8000``
knows what to do; a traceback tells them nothing and may show values that do not
belong on a screen. So the command group runs Click in non-standalone mode and
turns whatever comes out of it into that one line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.text import Text
from typer.core import TyperGroup

from sottovoce.cli.render import err, one_line
from sottovoce.client.errors import ClientError

log = logging.getLogger("sottovoce.cli")

# Exit codes: 1 a command failed, 2 it was called wrongly (Click's convention),
# 130 interrupted by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Failed(Exception):
    """A command could not do its job, for the reason its message states."""


def _usage_error(exc: Exception) -> str | None:
    """The message of a Click usage error (bad or missing option or argument), else None.

    Recognised by shape rather than class: Typer ≥ 0.20 carries its own copy of
    Click under a private module, older versions use Click itself, and both give
    usage errors ``format_message()`` and Click's usage exit code.
    """
    format_message = getattr(exc, "format_message", None)
    if getattr(exc, "exit_code", None) != EXIT_USAGE or not callable(format_message):
        return None
    message = str(format_message())
    context = getattr(exc, "ctx", None)
    command_path = getattr(context, "command_path", None)
    return f"{message} (see `{command_path} --help`)" if command_path else message


def _report(message: str) -> None:
    err.print(Text.assemble(("error:", "bold red"), " ", one_line(message)), soft_wrap=True)


class OneLineErrors(TyperGroup):
    """The root command group: runs a command and reports its failure in one line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> NoReturn:
        code = EXIT_FAILED
        try:
            # Non-standalone: Click hands back the code of typer.Exit (and of --help)
            # and raises everything else to us instead of printing it its own way.
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
            code = result if isinstance(result, int) else 0
        except typer.Abort:
            code = EXIT_INTERRUPTED
        except (Failed, ClientError) as exc:
            _report(str(exc))
        except Exception as exc:
            usage = _usage_error(exc)
            if usage is not None:
                code = EXIT_USAGE
                # With no arguments at all Click has printed the help instead.
                if type(exc).__name__ != "NoArgsIsHelpError":
                    _report(usage)
            else:
                # Not a failure the SDK or CLI foresaw. Its type and message still
                # make one line; --verbose adds the traceback.
                log.debug("unexpected failure", exc_info=True)
                _report(f"unexpected {type(exc).__name__}: {exc}")
        sys.exit(code)
