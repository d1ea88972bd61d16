"""The demo's group act: three people on two apps in one MLS group (docs/groups.md).

Played before the plaintext search, so the group's texts are searched for too.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from sottovoce.client import Client
from sottovoce.demo.stage import Exchange, Stage, announce, console

GROUP = "trip"
THIRD = "demo-c"
MESSAGES = (
    ("demo-a", "Group trip: the train leaves at 9, platform 4."),
    ("demo-b", "I'll bring snacks for everyone."),
)


async def a_group_across_apps(stage: Stage) -> None:
    announce(
        "A group across apps",
        "MLS (RFC 9420): demo-a adds demo-b (photos) and demo-c (chat) with KeyPackages from "
        "the server's directory. The server orders the group's commits and fans each message "
        "out to every member device; it holds the group id, epoch and member devices, never a "
        "group key.",
    )
    third = await Client.create_account(stage.workdir / THIRD, stage.server.url, "chat", THIRD)
    stage.people[THIRD] = third
    alice, bob = stage.people["demo-a"], stage.people["demo-b"]
    # demo-c writes first: an invite from someone it never talked to would be a
    # message request, its messages held until accepted (docs/safety.md).
    await third.send(alice.address, "add me to the trip group, please")
    await alice.groups.create(GROUP)
    info = await alice.groups.add(GROUP, bob.address, third.address)
    console.print(
        Text.assemble(
            (alice.address, "bold"),
            f" made #{GROUP} with ",
            ", ".join(m for m in info.members if m != alice.address),
        )
    )
    members = {p.address: p for p in (alice, bob, third)}
    got: dict[str, dict[str, int]] = {}

    async def take_in(person: Client) -> None:
        for message in await person.fetch():
            if message.group != GROUP:
                continue
            counts = got.setdefault(message.text, {})
            counts[person.address] = counts.get(person.address, 0) + 1
            console.print(
                Text.assemble(
                    (person.address, "bold"),
                    " ← ",
                    (message.sender, "bold"),
                    f" #{GROUP}: {message.text}",
                )
            )

    for handle, text in MESSAGES:
        sender = stage.people[handle]
        await take_in(sender)  # joins (the Welcome) and catches up before writing
        sent = await sender.groups.send(GROUP, text)
        stage.exchanges.append(Exchange(sender.address, f"#{GROUP}", text, sent.message_id))
        console.print(Text.assemble((sender.address, "bold"), f" → #{GROUP}: {text}"))
    console.print(_queued_for(stage, third.address))
    for person in members.values():
        await take_in(person)
    for exchange in stage.exchanges[-len(MESSAGES) :]:
        expected = {a for a in members if a != exchange.sender}
        counts = got.get(exchange.text, {})
        if set(counts) == expected and all(n == 1 for n in counts.values()):
            exchange.deliveries = 1
        else:
            stage.failures.append(f"{exchange.text!r} did not reach every member of #{GROUP} once")
    ((epoch, devices),) = stage.query(
        "SELECT g.epoch, count(*) FROM mls_groups g "
        "JOIN mls_group_members m ON m.group_pk = g.id GROUP BY g.id"
    )
    console.print(
        Text(f"the server's record of #{GROUP}: epoch {epoch}, {devices} member devices", "dim")
    )


def _queued_for(stage: Stage, address: str) -> Table:
    """What the server holds for an offline member: MLS messages it cannot open."""
    handle, app = address.split("@")
    rows = stage.query(
        "SELECT q.type, length(q.body), q.sender FROM queued_messages q "
        "JOIN devices d ON d.id = q.recipient_device_pk JOIN accounts a ON a.id = d.account_id "
        "WHERE a.handle = ? AND a.app = ? AND q.type LIKE 'mls-%' ORDER BY q.id",
        handle,
        app,
    )
    table = Table(title=f"queued on the server for {address}, still offline")
    table.add_column("type")
    table.add_column("bytes", justify="right")
    table.add_column("from")
    for kind, size, sender in rows:
        table.add_row(kind, f"{size:,}", sender)
    return table
