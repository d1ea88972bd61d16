"""The demo's closing checks: every message arrived exactly once, and no message text is
in any file the server wrote."""

from __future__ import annotations

from rich.text import Text

from sottovoce.demo.leaks import find_leaks, server_files
from sottovoce.demo.stage import Stage, announce, console


async def check_every_message_arrived(stage: Stage) -> None:
    announce(
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
    announce(
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
