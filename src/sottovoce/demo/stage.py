"""The stage every act plays on: the server process, the people's clients, and every
message exchanged with what became of it."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from sottovoce.client import Client, ReceivedMessage
from sottovoce.server.process import ServerProcess

console = Console(highlight=False)

# Enough of a ciphertext to see it is bytes without meaning, short enough for a
# cell: its first bytes (format version and type, then public header keys) and
# its last ones (the AEAD ciphertext and tag, different for every message).
CIPHERTEXT_HEAD_BYTES = 4
CIPHERTEXT_TAIL_BYTES = 8


@dataclass(frozen=True)
class StoredCopy:
    """What the server held for one message while its recipient was away."""

    sender: str
    kind: str
    size: int
    head: bytes
    tail: bytes


@dataclass
class Exchange:
    """One message: who sent it to whom, and what became of it."""

    sender: str
    recipient: str
    text: str
    message_id: str
    stored: StoredCopy | None = None
    deliveries: int = 0


@dataclass
class Stage:
    workdir: Path
    server: ServerProcess
    people: dict[str, Client] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Read the server's database read-only, bypassing the server entirely."""
        with sqlite3.connect(f"file:{self.server.db_path}?mode=ro", uri=True) as conn:
            return list(conn.execute(sql, params))

    async def send(self, sender: str, recipient: str, text: str) -> Exchange:
        sent = await self.people[sender].send(recipient, text)
        exchange = Exchange(self.people[sender].address, recipient, text, sent.message_id)
        self.exchanges.append(exchange)
        console.print(
            Text.assemble((exchange.sender, "bold"), " → ", (recipient, "bold"), f": {text}")
        )
        return exchange

    def keep_server_copy(self, exchange: Exchange) -> None:
        """Note the queued ciphertext of ``exchange`` (its recipient has one device)."""
        rows = self.query(
            "SELECT sender, type, length(body), substr(body, 1, ?), substr(body, -?) "
            "FROM queued_messages WHERE message_id = ?",
            CIPHERTEXT_HEAD_BYTES,
            CIPHERTEXT_TAIL_BYTES,
            exchange.message_id,
        )
        if not rows:  # sealed: queued under a fresh delivery id, naming nobody (docs/safety.md)
            rows = self.query(
                "SELECT sender, type, length(body), substr(body, 1, ?), substr(body, -?) "
                "FROM queued_messages WHERE type = 'sealed' ORDER BY id DESC LIMIT 1",
                CIPHERTEXT_HEAD_BYTES,
                CIPHERTEXT_TAIL_BYTES,
            )
        for sender, kind, size, head, tail in rows:
            exchange.stored = StoredCopy(sender, kind, size, head, tail)

    def receive(self, handle: str, messages: Iterable[ReceivedMessage], how: str) -> None:
        by_id = {e.message_id: e for e in self.exchanges}
        for message in messages:
            exchange = by_id.get(message.message_id)
            if exchange is None or exchange.text != message.text:
                self.failures.append(f"{handle} received a message nobody sent")
                continue
            exchange.deliveries += 1
            console.print(
                Text.assemble(
                    (self.people[handle].address, "bold"),
                    " ← ",
                    (message.sender, "bold"),
                    f": {message.text} ",
                    (f"({how})", "dim"),
                )
            )


Act = Callable[[Stage], Awaitable[None]]


def announce(title: str, why: str) -> None:
    """Open an act: a rule with its title, then one line on why it matters."""
    console.print()
    console.rule(f"[bold]{title}")
    console.print(Text(why, style="dim italic"))
