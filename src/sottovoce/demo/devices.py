"""The demo's linked-device acts (docs/transparency.md): demo-a links a second device,
demo-b sees the safety number change, and a ghost device the operator slips into
demo-b's device list is caught by demo-a's client.
"""

from __future__ import annotations

import asyncio
import sqlite3

from rich.panel import Panel
from rich.text import Text

from sottovoce.client import Client
from sottovoce.client.alerts import SecurityAlert
from sottovoce.client.safety import VerificationRequired
from sottovoce.demo.stage import Stage, announce, console
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList, parse_device_list

LAPTOP = "demo-a-laptop"
GHOST_DEVICE_ID = 9


async def a_second_device_for_demo_a(stage: Stage) -> None:
    announce(
        "demo-a links a laptop",
        "The laptop shows a one-time code (its ephemeral key and identity); demo-a's phone "
        "signs a new device list with the account key and sends the account's keys and "
        "contacts to the laptop, encrypted to that code. The server relays ciphertext.",
    )
    alice, bob = stage.people["demo-a"], stage.people["demo-b"]
    before = await bob.safety_number(alice.address)
    bob.mark_verified(alice.address, before)
    console.print(Text.assemble("demo-b verified demo-a: ", (" ".join(before.groups()), "bold")))

    pending = await Client.begin_link(stage.server.url)
    console.print(Text.assemble("the laptop shows ", (pending.code_text[:40] + "…", "dim")))
    finishing = asyncio.create_task(
        Client.finish_link(pending, stage.workdir / LAPTOP, stage.server.url)
    )
    device_id = await alice.accept_link(pending.code_text)
    laptop = await finishing
    stage.people[LAPTOP] = laptop
    ids = [d.device_id for d in await alice.devices()]
    console.print(Text.assemble((alice.address, "bold"), f" now has devices {ids}"))

    after = await bob.safety_number(alice.address)
    console.print(Text.assemble("demo-b's safety number now: ", (" ".join(after.groups()), "bold")))
    if after.digits() == before.digits() or device_id not in ids:
        stage.failures.append("linking a device did not change the safety number")
    try:
        await bob.send(alice.address, "Is that new device yours?")
        stage.failures.append("a verified contact's change did not block sending")
    except VerificationRequired:
        console.print("[bold green]PASS[/]: demo-b cannot send until the new number is checked")
    bob.mark_verified(alice.address, after)  # compared with demo-a, in person
    exchange = await stage.send("demo-b", alice.address, "Checked your new number. Hi, laptop!")
    stage.receive("demo-a", await alice.fetch(), "on the phone")
    arrived = await laptop.fetch()
    for event in (m for m in arrived if m.event is not None):
        console.print(Text.assemble((laptop.address, "bold"), " (laptop): ", event.text))
    on_laptop = [m.text for m in arrived if m.event is None]
    console.print(Text.assemble((laptop.address, "bold"), " (laptop) ← ", ", ".join(on_laptop)))
    if on_laptop != [exchange.text]:
        stage.failures.append("the linked laptop did not get demo-b's message")
    # The phone's sync added the laptop to demo-a's groups (docs/groups.md).
    if [g.name for g in laptop.groups.all()] != [g.name for g in alice.groups.all()]:
        stage.failures.append("the linked laptop did not join demo-a's groups")
    await stage.send("demo-a", "demo-b@photos", "Yes, it's my laptop.")
    stage.receive("demo-b", await bob.fetch(), "from demo-a's phone")
    await laptop.fetch()
    shown = [e.text for e in laptop.history("demo-b@photos") if e.direction == "out"]
    console.print(Text.assemble("the laptop's history shows it as sent: ", repr(shown)))
    if shown != ["Yes, it's my laptop."]:
        stage.failures.append("the phone's sent message is missing from the laptop")


async def a_ghost_device_is_caught(stage: Stage) -> None:
    announce(
        "The operator tries a ghost device",
        "Someone with the server's database adds a device to demo-b's list (a silent extra "
        "reader). It cannot sign as demo-b's account, and the log does not hold it: "
        "demo-a's client refuses to encrypt to it and raises the alarm.",
    )
    alice, bob = stage.people["demo-a"], stage.people["demo-b"]
    handle, app = bob.address.split("@")
    ghost = IdentityKeyPair.generate()
    with sqlite3.connect(stage.server.db_path) as conn:
        account_id, key, signed = conn.execute(
            "SELECT id, account_key, device_list FROM accounts WHERE app = ? AND handle = ?",
            (app, handle),
        ).fetchone()
        real = parse_device_list(signed, key)
        ghostly = DeviceList(
            real.address,
            real.version + 1,
            (*real.devices, DeviceEntry(GHOST_DEVICE_ID, ghost.public, 0)),
        )
        conn.execute(
            "UPDATE accounts SET device_list = ?, device_list_version = ? WHERE id = ?",
            (ghostly.signed_body() + signed[-64:], ghostly.version, account_id),
        )
        conn.execute(
            "INSERT INTO devices (account_id, device_id, identity, created_day, last_seen_day) "
            "VALUES (?, ?, ?, 0, 0)",
            (account_id, GHOST_DEVICE_ID, ghost.public.to_bytes()),
        )
    try:
        await alice.send(bob.address, "Only for demo-b's real devices.")
        stage.failures.append("a ghost device in the recipient's list went unnoticed")
    except SecurityAlert:
        alerts = alice.security_alerts()
        shown = "\n".join(f"{a.address}: {a.detail}" for a in alerts)
        console.print(Panel(Text(shown), title="security alert on demo-a", border_style="bold red"))
        alice.dismiss_alerts(alerts)
    finally:
        with sqlite3.connect(stage.server.db_path) as conn:
            conn.execute(
                "DELETE FROM devices WHERE account_id = ? AND device_id = ?",
                (account_id, GHOST_DEVICE_ID),
            )
            conn.execute(
                "UPDATE accounts SET device_list = ?, device_list_version = ? WHERE id = ?",
                (signed, real.version, account_id),
            )
    queued = stage.query(
        "SELECT count(*) FROM queued_messages q JOIN devices d ON d.id = q.recipient_device_pk "
        "WHERE d.device_id = ?",
        GHOST_DEVICE_ID,
    )
    if queued[0][0]:
        stage.failures.append("something was queued for the ghost device")
    else:
        console.print("[bold green]PASS[/]: nothing was encrypted to the ghost; demo-a was warned")
