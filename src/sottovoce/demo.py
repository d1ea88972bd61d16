"""``make demo``: a real server, two people on two apps, and proof the server learned nothing.

The demo is a list of acts played in order on one shared :class:`Stage` (the
server process, the people's clients, every message exchanged). A new
capability of the system adds an act to ``ACTS`` instead of a new script. An
act that finds something wrong records it on the stage; the demo then ends
with FAIL and a non-zero exit code.

The server is the one an operator runs (``python -m sottovoce.server``, via
``ServerProcess``), on a free loopback port with its SQLite file in a temporary
directory that is removed at the end. What it stored is read straight from
that file with the standard library, read-only, as a thief with a copy of the
disk would read it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sottovoce.client import Client, ReceivedMessage
from sottovoce.client.errors import ClientError
from sottovoce.demo_app import two_windows_in_the_app
from sottovoce.demo_devices import a_ghost_device_is_caught, a_second_device_for_demo_a
from sottovoce.demo_groups import a_group_across_apps
from sottovoce.demo_legal import a_lawful_request
from sottovoce.demo_safety import a_stranger_is_reported
from sottovoce.server.process import ServerProcess
from sottovoce.storage.repository import ONE_TIME_EC, ONE_TIME_KEM

console = Console(highlight=False)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

APPS = "chat,photos"
# How long a message may take to arrive over an open WebSocket on a loaded
# laptop before the demo calls it lost; a healthy run needs milliseconds.
LIVE_DELIVERY_TIMEOUT_S = 15.0
# Enough of a ciphertext to see it is bytes without meaning, short enough for a
# cell: its first bytes (format version and type, then public header keys) and
# its last ones (the AEAD ciphertext and tag, different for every message).
CIPHERTEXT_HEAD_BYTES = 4
CIPHERTEXT_TAIL_BYTES = 8
# The server's one-time prekey kinds, named by their algorithm (PQXDH §2.4).
PREKEY_KINDS = {ONE_TIME_EC: "X25519", ONE_TIME_KEM: "ML-KEM-1024"}
# The log is shown whole up to this many lines, else its last ones.
LOG_LINES_SHOWN = 12
# A needle shorter than this could turn up in random ciphertext by chance (its
# base64 cores would be a handful of characters), so a search refuses it.
MIN_NEEDLE_BYTES = 8


# -- searching the server's files -----------------------------------------------


def _base64_cores(data: bytes, encode: Callable[[bytes], bytes]) -> list[bytes]:
    """The base64 characters that depend only on ``data``, for each of the three
    alignments ``data`` can have inside a longer encoded value (RFC 4648 §4: each
    character carries 6 bits, so the alignment repeats every 3 bytes)."""
    cores = []
    for offset in range(3):
        encoded = encode(bytes(offset) + data)
        first = -(-8 * offset // 6)  # the first character with no bit of the padding
        last = 8 * (offset + len(data)) // 6  # one past the last whole character
        cores.append(encoded[first:last])
    return cores


def encoded_forms(needle: bytes) -> dict[str, bytes]:
    """``needle`` as it could sit in a file: raw, hex, base64 (standard and URL-safe,
    any alignment) and, when it is text, UTF-16 in both byte orders."""
    if len(needle) < MIN_NEEDLE_BYTES:
        raise ValueError(f"a needle of {len(needle)} bytes would match by chance")
    forms = {
        "raw": needle,
        "hex": binascii.hexlify(needle),
        "HEX": binascii.hexlify(needle).upper(),
    }
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for offset, core in enumerate(_base64_cores(needle, encode)):
            forms[f"{name}+{offset}"] = core
    try:
        text = needle.decode("utf-8")
    except UnicodeDecodeError:
        return forms
    forms["utf-16-le"] = text.encode("utf-16-le")
    forms["utf-16-be"] = text.encode("utf-16-be")
    return forms


def server_files(directory: Path) -> dict[str, bytes]:
    """Every file the server wrote: its database with ``-wal``/``-shm``, and its log."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


@dataclass(frozen=True)
class Leak:
    needle: str  # a label for what was found, never the secret itself
    form: str
    file: str


def find_leaks(files: dict[str, bytes], needles: dict[str, bytes]) -> list[Leak]:
    """Every (needle, form, file) where a form of a needle occurs in a file."""
    leaks = []
    for label, needle in needles.items():
        for form, encoded in encoded_forms(needle).items():
            leaks += [Leak(label, form, name) for name, data in files.items() if encoded in data]
    return leaks


# -- the stage ------------------------------------------------------------------


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


def _act(title: str, why: str) -> None:
    console.print()
    console.rule(f"[bold]{title}")
    console.print(Text(why, style="dim italic"))


# -- the acts -------------------------------------------------------------------


async def two_people_two_apps(stage: Stage) -> None:
    _act(
        "Two people, two apps, one network",
        "Each device makes its own keys; only public keys and prekeys go to the server.",
    )
    for handle, app in (("demo-a", "chat"), ("demo-b", "photos")):
        stage.people[handle] = await Client.create_account(
            stage.workdir / handle, stage.server.url, app, handle
        )
        console.print(
            Text.assemble("created ", (stage.people[handle].address, "bold"), f" on the {app} app")
        )


async def write_while_offline(stage: Stage) -> None:
    _act(
        "demo-a writes while demo-b is offline",
        "The server queues what it cannot deliver yet: ciphertext, until acknowledged.",
    )
    for text in ("Hi from the chat app! Lunch on Friday?", "Bring the photos from the trip."):
        stage.keep_server_copy(await stage.send("demo-a", "demo-b@photos", text))


async def come_online(stage: Stage) -> None:
    _act(
        "demo-b comes online",
        "Fetched over HTTP, decrypted on demo-b's device, then acknowledged and deleted.",
    )
    stage.receive("demo-b", await stage.people["demo-b"].fetch(), "waited on the server")


async def reply_while_offline(stage: Stage) -> None:
    _act(
        "demo-b replies while demo-a is offline",
        "The other direction, across apps: photos to chat.",
    )
    for text in ("Friday works. Photos are coming!", "Sent from the photos app 📷"):
        stage.keep_server_copy(await stage.send("demo-b", "demo-a@chat", text))


async def listen_live(stage: Stage) -> None:
    _act(
        "demo-a connects and stays connected",
        "Over a WebSocket: first what waited, then new messages the moment they are sent.",
    )
    waiting = sum(1 for e in stage.exchanges if e.recipient == "demo-a@chat" and not e.deliveries)
    arrived: asyncio.Queue[ReceivedMessage] = asyncio.Queue()

    async def follow() -> None:
        async for message in stage.people["demo-a"].listen():
            await arrived.put(message)

    listener = asyncio.create_task(follow())
    try:
        for _ in range(waiting):
            message = await asyncio.wait_for(arrived.get(), LIVE_DELIVERY_TIMEOUT_S)
            stage.receive("demo-a", [message], "waited on the server")
        await stage.send("demo-b", "demo-a@chat", "Still there? This one goes out live.")
        message = await asyncio.wait_for(arrived.get(), LIVE_DELIVERY_TIMEOUT_S)
        stage.receive("demo-a", [message], "live")
    except TimeoutError:
        stage.failures.append(f"a message took over {LIVE_DELIVERY_TIMEOUT_S:.0f} s to arrive")
    finally:
        listener.cancel()  # closes the WebSocket on the way out
        with contextlib.suppress(asyncio.CancelledError):
            await listener


def _seen_by(stage: Stage, handle: str, peer: str) -> dict[str, str]:
    """message id → how it reads in ``handle``'s own encrypted store."""
    return {
        entry.message_id: f"{'→' if entry.direction == 'out' else '←'} {entry.text}"
        for entry in stage.people[handle].history(peer)
    }


def _server_cell(exchange: Exchange) -> Text:
    if exchange.stored is None:
        return Text("relayed live over the WebSocket;\ndeleted once acknowledged", style="dim")
    stored = exchange.stored
    sender = stored.sender or "a sender the server does not know"
    return Text.assemble(
        f"{stored.kind} envelope from {sender}, {stored.size:,} bytes\n",
        (f"{stored.head.hex(' ')} … {stored.tail.hex(' ')}", "cyan"),
    )


def _day(days: int) -> str:
    """The server keeps days, not instants (DESIGN.md: creation and last connection by day)."""
    return (EPOCH + timedelta(days=days)).date().isoformat()


def accounts_view(stage: Stage) -> Table:
    table = Table(title="accounts and devices", title_justify="left")
    for column in ("address", "device", "identity key", "created", "last connected"):
        table.add_column(column)
    for handle, app, device, identity_len, created, seen in stage.query(
        "SELECT a.handle, a.app, d.device_id, length(d.identity), d.created_day, "
        "d.last_seen_day FROM accounts a JOIN devices d ON d.account_id = a.id ORDER BY a.id"
    ):
        table.add_row(
            f"{handle}@{app}",
            str(device),
            f"public, {identity_len} bytes",
            _day(created),
            _day(seen),
        )
    return table


def prekeys_view(stage: Stage) -> Table:
    table = Table(title="public one-time prekeys", title_justify="left")
    for column in ("address", "kind", "left"):
        table.add_column(column)
    for handle, app, kind, count in stage.query(
        "SELECT a.handle, a.app, k.kind, count(*) FROM one_time_prekeys k "
        "JOIN devices d ON d.id = k.device_pk JOIN accounts a ON a.id = d.account_id "
        "GROUP BY a.id, k.kind ORDER BY a.id, k.kind"
    ):
        table.add_row(f"{handle}@{app}", PREKEY_KINDS.get(kind, kind), str(count))
    return table


def tables_view(stage: Stage) -> Table:
    table = Table(title=f"all of {stage.server.db_path.name}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for (name,) in stage.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        # The name comes from sqlite_master, not from input.
        (count,) = stage.query(f'SELECT count(*) FROM "{name}"')[0]  # noqa: S608
        table.add_row(name, str(count))
    return table


def log_view(stage: Stage) -> Panel:
    lines = stage.server.log_text().splitlines()
    shown = lines[-LOG_LINES_SHOWN:]
    return Panel(
        Text("\n".join(shown)),
        title=f"server log: {len(lines)} lines"
        + ("" if shown == lines else f", last {len(shown)}"),
        title_align="left",
    )


async def side_by_side(stage: Stage) -> None:
    _act(
        "What each person sees, and what the server holds",
        "Left and right: the people's own devices. Middle: the server's database file.",
    )
    a_sees = _seen_by(stage, "demo-a", "demo-b@photos")
    b_sees = _seen_by(stage, "demo-b", "demo-a@chat")
    table = Table(expand=True, show_lines=True)
    table.add_column("demo-a@chat sees", ratio=3)
    table.add_column("the server stored", ratio=3)
    table.add_column("demo-b@photos sees", ratio=3)
    for exchange in stage.exchanges:
        table.add_row(
            a_sees.get(exchange.message_id, ""),
            _server_cell(exchange),
            b_sees.get(exchange.message_id, ""),
        )
    console.print(table)
    console.print(accounts_view(stage))
    console.print(Columns([prekeys_view(stage), tables_view(stage)], padding=(0, 4)))
    console.print(log_view(stage))


async def check_every_message_arrived(stage: Stage) -> None:
    _act(
        "Did every message arrive, exactly once?",
        "Delivery is at-least-once; duplicates are dropped.",
    )
    wrong = [e for e in stage.exchanges if e.deliveries != 1]
    for exchange in wrong:
        stage.failures.append(
            f"{exchange.text!r} reached {exchange.recipient} {exchange.deliveries} times"
        )
    if wrong:
        console.print(f"[bold red]FAIL[/]: {len(wrong)} message(s) delivered other than once")
    else:
        console.print(f"[bold green]PASS[/]: all {len(stage.exchanges)} messages, once each")


async def check_server_learned_nothing(stage: Stage) -> None:
    _act(
        "Did any plaintext reach the server?",
        "Every file the server wrote is searched for every message text, in every encoding.",
    )
    files = server_files(stage.server.directory)
    texts = {e.text: e.text.encode() for e in stage.exchanges}
    console.print(
        "searched " + ", ".join(f"{name} ({len(data):,} bytes)" for name, data in files.items())
    )
    # A search that cannot find anything proves nothing: it must find a text
    # planted (UTF-16, mid-file) in a scratch copy of the same bytes.
    planted_text = stage.exchanges[0].text
    scratch = {"scratch copy": b"\x00".join(files.values()) + planted_text.encode("utf-16-le")}
    if not find_leaks(scratch, {planted_text: planted_text.encode()}):
        stage.failures.append("the leak search misses a planted text")
        console.print("[bold red]FAIL[/]: the search does not even find a planted text")
    leaks = find_leaks(files, texts)
    for leak in leaks:
        stage.failures.append(f"{leak.needle!r} is in {leak.file} ({leak.form})")
        console.print(
            Text.assemble(
                ("FAIL", "bold red"), f": {leak.needle!r} found in {leak.file} as {leak.form}"
            )
        )
    if not leaks:
        console.print(
            f"[bold green]PASS[/]: none of the {len(texts)} message texts appears in any file "
            "(as UTF-8, UTF-16, hex or base64 at any alignment); the same search finds a "
            "text planted in a scratch copy"
        )


async def sealed_between_contacts(stage: Stage) -> None:
    _act(
        "Sealed sender between contacts",
        "demo-a and demo-b have written to each other, so each holds the other's profile "
        "key: their messages now travel sealed, and the server stores no sender.",
    )
    exchange = await stage.send("demo-a", "demo-b@photos", "Sealed: the server can't tell it's me.")
    rows = stage.query(
        "SELECT id, message_id, sender, sender_device, sender_device_pk, type, length(body), "
        "length(commitment), length(franking_tag) FROM queued_messages ORDER BY id DESC LIMIT 1"
    )
    table = Table(title="the server's row for it (queued_messages)", title_justify="left")
    table.add_column("column", style="bold")
    table.add_column("stored")
    names = ("id", "message_id", "sender", "sender_device", "sender_device_pk", "type")
    for row in rows:
        for name, value in zip(names, row[:6], strict=True):
            table.add_row(name, repr(value))
        for name, size in zip(("body", "commitment", "franking_tag"), row[6:], strict=True):
            table.add_row(name, f"{size} bytes")
    console.print(table)
    sender = stage.people["demo-a"]
    identity = sender._identity.public
    needles = [sender.address.encode(), b"demo-a", identity.sign_public, identity.dh_public]
    stored = stage.query("SELECT * FROM queued_messages ORDER BY id DESC LIMIT 1")
    columns = [v if isinstance(v, bytes) else str(v).encode() for v in stored[0]]
    named = [n for n in needles for column in columns if n in column]
    if not rows or rows[0][5] != "sealed" or rows[0][1] == exchange.message_id or named:
        stage.failures.append("the server's row for a sealed message names its sender")
        console.print("[bold red]FAIL[/]: the stored row identifies the sender")
    else:
        console.print(
            "[bold green]PASS[/]: type 'sealed', no sender in any column (address, handle, "
            "identity keys), a delivery id unlike the message's own"
        )
    how = "sealed; opened on demo-b's device, sender certificate checked against the session"
    stage.receive("demo-b", await stage.people["demo-b"].fetch(), how)


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


if __name__ == "__main__":
    sys.exit(main())
