"""The demo's safety act: a stranger's message arrives as a request, is reported,
and the operator sees a verified report (docs/safety.md).

Played after the plaintext search: the reported text is on the server from then
on, on purpose, because its recipient chose to reveal it.
"""

from __future__ import annotations

from rich.text import Text

from sottovoce.client import Client
from sottovoce.client.content import decode_content
from sottovoce.demo.stage import Stage, announce, console
from sottovoce.server.abuse.moderation import Moderation
from sottovoce.server.settings import database_url

STRANGER = "demo-stranger"
PITCH = "Hey cutie, you look young. Send me a photo? Don't tell your parents."


async def a_stranger_is_reported(stage: Stage) -> None:
    announce(
        "A stranger writes to demo-b, who reports it",
        "A first message from a non-contact is unsealed, names its sender, and waits apart as a "
        "message request; the sender learns nothing. A report reveals it to the operator, who "
        "can verify it was really delivered.",
    )
    stranger = await Client.create_account(
        stage.workdir / STRANGER, stage.server.url, "chat", STRANGER
    )
    stage.people[STRANGER] = stranger
    bob = stage.people["demo-b"]
    await stranger.send(bob.address, PITCH)
    console.print(
        Text.assemble((stranger.address, "bold"), " → ", (bob.address, "bold"), f": {PITCH}")
    )
    await bob.fetch()
    requests = [r.peer for r in bob.requests()]
    console.print(
        Text.assemble(
            (bob.address, "bold"), " has message requests from: ", ", ".join(requests) or "nobody"
        )
    )
    listed = [c.peer for c in bob.conversations() if not c.request]
    if requests != [stranger.address] or stranger.address in listed:
        stage.failures.append("the stranger's message did not arrive as a message request")
    if await stranger.fetch():
        stage.failures.append("the stranger heard back before the request was accepted")
    console.print(Text("$ sottovoce requests report demo-stranger@chat --reason grooming", "dim"))
    filed = await bob.report_request(stranger.address, "grooming")
    console.print(
        Text.assemble(
            (bob.address, "bold"),
            f" reported it (report {filed.report_id}, verified by {filed.verification}) and "
            "blocked the sender",
        )
    )
    desk = await Moderation.open(database_url(str(stage.server.db_path)))
    try:
        reports = await desk.reports(stranger.address)
    finally:
        await desk.close()
    console.print(Text("$ sottovoce moderation reports", style="dim"))
    for report in reports:
        shown = [decode_content(m.content).text for m in report.messages]
        console.print(
            Text.assemble(
                (f"report {report.id}", "bold"),
                f" {report.reporter} reported ",
                (report.reported or "?", "bold red"),
                f" ({report.verification}): {report.reason}: ",
                " | ".join(shown),
            )
        )
    verified = [r for r in reports if r.id == filed.report_id and r.reporter == bob.address]
    if not verified or [decode_content(m.content).text for m in verified[0].messages] != [PITCH]:
        stage.failures.append("the operator does not see the verified report")
    else:
        console.print(
            "[bold green]PASS[/]: a request, reported; the operator sees the verified report, "
            "and nothing else of anyone's messages"
        )
