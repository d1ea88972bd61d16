"""How things look on the terminal: consoles, tables, and text made safe to show.

Message texts, addresses and error details come from other people or from the
server, so they are never interpreted: not as Rich markup (``[bold]`` stays
literal), and not as terminal control sequences (an ESC byte could recolour,
retitle or rewrite the screen) nor as bidirectional overrides (which can make
text read differently from what it is). Such characters are shown escaped.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
# ``ctx.meta`` key set by a command printing ``--json``: its stdout carries JSON
# only, and anything else it must show (a security alert) goes to stderr.
JSON_OUTPUT = "sottovoce.json_output"

# Unicode's explicit directional embeddings, overrides and isolates (UAX #9 §2).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Layout a multi-line message keeps; every other control character is escaped.
KEPT_CONTROLS = frozenset("\n\t")
TIME_FORMAT = "%Y-%m-%d %H:%M"

MessageRow = tuple[datetime, str, str]  # when, who, text
ConversationRow = tuple[str, datetime, str, int]  # peer, last time, last text, unread


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def _visible(char: str) -> str:
    if char in KEPT_CONTROLS:
        return char
    if char in BIDI_CONTROLS or unicodedata.category(char) == "Cc":
        return _escaped(char)
    return char


def plain(text: str, style: str = "") -> Text:
    """``text`` exactly as written, with control characters shown as escapes."""
    return Text("".join(_visible(c) for c in text), style=style)


def one_line(text: str) -> Text:
    """Like :func:`plain`, with line breaks escaped too: for one-line reports."""
    return Text("".join(_escaped(c) if c in KEPT_CONTROLS else _visible(c) for c in text))


def when(moment: datetime) -> str:
    """A timestamp in the reader's local time zone."""
    return moment.astimezone().strftime(TIME_FORMAT)


def json_lines(records: Iterable[Mapping[str, object]]) -> None:
    """One JSON object a line on stdout (``--json``), for scripts: never wrapped, whatever
    the terminal's width, and with every control and non-ASCII character escaped as
    ``\\uXXXX``, so other people's text cannot act on a terminal it is shown in."""
    for record in records:
        sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def message_table(title: str, rows: Iterable[MessageRow]) -> Table:
    """Messages, oldest first."""
    table = Table(title=title, title_justify="left")
    table.add_column("when", style="dim", no_wrap=True)
    table.add_column("who", style="bold", no_wrap=True)
    table.add_column("message")
    for moment, who, text in rows:
        table.add_row(when(moment), plain(who), plain(text))
    return table


def conversation_table(
    rows: Iterable[ConversationRow], title: str = "conversations", peer_heading: str = "with"
) -> Table:
    """Conversations (or message requests), the most recent first."""
    table = Table(title=title, title_justify="left")
    table.add_column(peer_heading, style="bold", no_wrap=True)
    table.add_column("last", style="dim", no_wrap=True)
    table.add_column("message")
    table.add_column("unread", justify="right")
    for peer, moment, text, unread in rows:
        table.add_row(plain(peer), when(moment), plain(text), str(unread) if unread else "")
    return table


def live_line(moment: datetime, sender: str, text: str) -> Text:
    """One message as ``listen`` prints it the moment it arrives."""
    return Text.assemble(
        (moment.astimezone().strftime("%H:%M:%S"), "dim"),
        " ",
        plain(sender, "bold"),
        ": ",
        plain(text),
    )


def identity_warning(addresses: Iterable[str]) -> Panel:
    """The loud notice for contacts whose identity key changed: never accepted silently."""
    body = Text()
    for address in addresses:
        body.append_text(plain(address, "bold"))
        body.append(
            " has a new identity key. This happens when they reinstall or change device,"
            " and also when someone tries to intercept your messages. Their messages are"
            " held and nothing can be sent to them until you check the change with them"
            " (in person or on another channel) and then run:\n  "
        )
        body.append_text(plain(f"sottovoce contact trust {address}", "bold"))
        body.append("\n")
    body.rstrip()
    return Panel(body, title="identity changed", border_style="bold red", title_align="left")


class StderrLog(logging.Handler):
    """SDK and CLI log records as ``warning: ...`` lines on stderr, text made safe."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a broken log call must not break the command
            self.handleError(record)
            return
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        err.print(plain(f"{record.levelname.lower()}: {line}", style), soft_wrap=True)
