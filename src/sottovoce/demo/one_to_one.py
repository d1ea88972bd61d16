"""The demo's one-to-one acts: two people on two apps write both ways, offline and live,
then sealed once they are contacts (docs/protocol.md, docs/safety.md)."""

from __future__ import annotations

import asyncio
import contextlib

from rich.table import Table
from rich.text import Text

from sottovoce.client import Client, ReceivedMessage
from sottovoce.demo.stage import Stage, announce, console

# How long a message may take to arrive over an open WebSocket on a loaded
# laptop before the demo calls it lost; a healthy run needs milliseconds.
LIVE_DELIVERY_TIMEOUT_S = 15.0


async def two_people_two_apps(stage: Stage) -> None:
    announce(
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
    announce(
        "demo-a writes while demo-b is offline",
        "The server queues what it cannot deliver yet: ciphertext, until acknowledged.",
    )
    for text in ("Hi from the chat app! Lunch on Friday?", "Bring the photos from the trip."):
        stage.keep_server_copy(await stage.send("demo-a", "demo-b@photos", text))


async def come_online(stage: Stage) -> None:
    announce(
        "demo-b comes online",
        "Fetched over HTTP, decrypted on demo-b's device, then acknowledged and deleted.",
    )
    stage.receive("demo-b", await stage.people["demo-b"].fetch(), "waited on the server")


async def reply_while_offline(stage: Stage) -> None:
    announce(
        "demo-b replies while demo-a is offline",
        "The other direction, across apps: photos to chat.",
    )
    for text in ("Friday works. Photos are coming!", "Sent from the photos app 📷"):
        stage.keep_server_copy(await stage.send("demo-b", "demo-a@chat", text))


async def listen_live(stage: Stage) -> None:
    announce(
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


async def sealed_between_contacts(stage: Stage) -> None:
    announce(
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
