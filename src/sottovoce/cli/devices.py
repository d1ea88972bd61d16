"""``sottovoce device …``, ``verify``, ``head`` and ``audit``: linked devices and the
checks that make a ghost visible (safety numbers, security alerts, the transparency
log). ``head`` prints the tree head this device verified; ``audit --compare`` hands
such heads to an independent auditor, which says whether they are of the log it
follows (docs/transparency.md, "What an auditor verifies").

Security alerts are shown in a red box by every person-facing command
(``cli.alerts``), so a ghost device or a swapped key is seen at once whatever the
person was doing.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import sys
from typing import Annotated

import segno
import typer
from rich.table import Table

from sottovoce.cli.failures import Failed
from sottovoce.cli.profile import Profile
from sottovoce.cli.render import out, plain
from sottovoce.cli.session import with_client
from sottovoce.client import Client
from sottovoce.client.auditor import ForkedView, LogAuditor
from sottovoce.client.head_gossip import ForeignLogHead, MalformedGossip
from sottovoce.protocol.public.tree_head import SignedTreeHead

device_app = typer.Typer(help="Link, list and remove this account's devices.", no_args_is_help=True)


def qr_text(payload: str) -> str:
    """A QR code drawn with block characters, for the terminal."""
    code = segno.make(payload, error="m")
    lines = []
    matrix = [list(row) for row in code.matrix_iter(border=2)]
    for top, bottom in zip(matrix[::2], [*matrix[1::2], [0] * len(matrix[0])], strict=True):
        lines.append(
            "".join(
                "█" if t and b else "▀" if t else "▄" if b else " "
                for t, b in zip(top, bottom, strict=True)
            )
        )
    return "\n".join(lines)


@device_app.command("link")
def device_link(
    ctx: typer.Context,
    server: Annotated[str, typer.Option(help="The account's server URL.")],
) -> None:
    """Make this profile a new device of an existing account: show a linking code,
    then wait for a device of the account to run `sottovoce device accept CODE`."""
    profile: Profile = ctx.obj

    async def link() -> tuple[str, int]:
        pending = await Client.begin_link(server)
        out.print("Scan this code with a device of your account, or run there:")
        out.print(plain(f"  sottovoce device accept {pending.code_text}", "bold"))
        out.print(qr_text(pending.code_text), highlight=False, soft_wrap=True)
        sys.stdout.flush()
        client = await Client.finish_link(
            pending, profile.directory, server, passphrase=profile.passphrase()
        )
        async with client:
            return client.address, client.device_id

    address, device_id = asyncio.run(link())
    out.print(plain(f"linked: this is device {device_id} of {address}"))


@device_app.command("accept")
def device_accept(
    ctx: typer.Context, code: Annotated[str, typer.Argument(help="The new device's code.")]
) -> None:
    """Add the device showing CODE to this account, and hand it the account's keys."""
    device_id = with_client(ctx, lambda client: client.accept_link(code))
    out.print(plain(f"device {device_id} linked"))


@device_app.command("list")
def device_list(ctx: typer.Context) -> None:
    """This account's devices, as its account key signed them."""
    devices = with_client(ctx, lambda client: client.devices())
    table = Table("id", "added", "identity key", "")
    for d in devices:
        added = datetime.date.fromordinal(datetime.date(1970, 1, 1).toordinal() + d.added_day)
        table.add_row(
            str(d.device_id),
            added.isoformat(),
            d.identity_key.hex()[:16],
            "this device" if d.this_device else "",
        )
    out.print(table)


@device_app.command("remove")
def device_remove(
    ctx: typer.Context, device_id: Annotated[int, typer.Argument(metavar="ID")]
) -> None:
    """Remove device ID: it receives nothing from now on."""

    async def remove(client: Client) -> None:
        await client.remove_device(device_id)

    with_client(ctx, remove)
    out.print(plain(f"device {device_id} removed"))


def verify(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The contact, handle@app.")],
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Mark verified without asking (after comparing).")
    ] = False,
) -> None:
    """Show the safety number with ADDRESS (digits and QR) and mark them verified."""

    async def show(client: Client) -> bool:
        number = await client.safety_number(address)
        groups = number.groups()
        out.print(plain(f"safety number with {address}:", "bold"))
        for row in range(0, len(groups), 4):
            out.print("  " + "  ".join(groups[row : row + 4]))
        out.print(
            qr_text(base64.b64encode(number.scannable()).decode()), highlight=False, soft_wrap=True
        )
        out.print(
            "Compare these digits with your contact, in person or on a call. "
            "They change when either of you adds a device or changes keys."
        )
        mark = confirm or (
            sys.stdin.isatty() and typer.confirm("Do the numbers match? Mark as verified")
        )
        if mark:
            client.mark_verified(address, number)
        return mark

    if with_client(ctx, show):
        out.print(plain(f"{address} is verified"))
    else:
        out.print(plain(f"{address} is not marked verified"))


def _describe(head: SignedTreeHead) -> str:
    return f"epoch {head.epoch}: size {head.tree_size} root {head.root_hash.hex()}"


def tree_head(ctx: typer.Context) -> None:
    """Print the newest tree head of the transparency log this device verified (after
    following the log), to hand to an auditor: `sottovoce audit --compare HEAD`."""

    async def newest(client: Client) -> SignedTreeHead | None:
        await client.check_transparency()
        return client.tree_head()

    head = with_client(ctx, newest)
    if head is None:
        raise Failed("this device has not verified a tree head yet: is the server reachable?")
    out.print(plain(_describe(head)), soft_wrap=True)
    out.print(plain(f"head {base64.b64encode(head.to_bytes()).decode()}"), soft_wrap=True)


def _decoded_heads(heads: list[str]) -> list[bytes]:
    decoded = []
    for head in heads:
        try:
            decoded.append(base64.b64decode(head, validate=True))
        except ValueError:
            raise typer.BadParameter("a head is standard base64", param_hint="--compare") from None
    return decoded


async def _compare(auditor: LogAuditor, heads: list[bytes]) -> int:
    """Each head against the auditor's view, one line each; how many are not of it.
    A fork prints both heads, the evidence anyone with the log key can check."""
    failed = 0
    for number, data in enumerate(heads, 1):
        try:
            await auditor.compare(data)
        except ForkedView as exc:
            failed += 1
            out.print(plain(f"head {number}: FORK: {exc}", "bold red"), soft_wrap=True)
            for evidence in exc.evidence:
                evidence_b64 = base64.b64encode(evidence).decode()
                out.print(plain(f"  evidence {evidence_b64}"), soft_wrap=True)
        except (ForeignLogHead, MalformedGossip) as exc:
            failed += 1
            out.print(plain(f"head {number}: refused: {exc}", "bold red"), soft_wrap=True)
        else:
            out.print(plain(f"head {number}: one log with this auditor's view"), soft_wrap=True)
    return failed


def audit(
    server: Annotated[str, typer.Option(help="The server URL to audit.")],
    log_key: Annotated[
        str | None, typer.Option(help="The log's public key (base64), if known.")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="How many heads to fetch.")] = 3,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between heads.")] = 5.0,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HEAD",
            help="A tree head someone verified (base64, as `sottovoce head` prints it) "
            "to check against this auditor's view; may be given more than once.",
        ),
    ] = None,
) -> None:
    """Act as an independent auditor: fetch tree heads over time, check each is
    consistent with the last and with every entry of the log; then compare the heads
    given with --compare, failing if any is of another log or a forked one."""
    heads = _decoded_heads(compare or [])

    async def follow() -> int:
        auditor = LogAuditor(server, None if log_key is None else base64.b64decode(log_key))
        try:
            async for audited in auditor.follow(rounds, interval):
                head = audited.head
                since = (
                    "first head"
                    if audited.previous_epoch is None
                    else f"consistent with epoch {audited.previous_epoch}"
                )
                out.print(
                    plain(
                        f"epoch {head.epoch}: verified size {head.tree_size} "
                        f"root {head.root_hash.hex()} ({since})"
                    ),
                    soft_wrap=True,
                )
            assert auditor.log_key is not None
            out.print(plain(f"log key {base64.b64encode(auditor.log_key).decode()}"))
            return await _compare(auditor, heads)
        finally:
            await auditor.close()

    failed = asyncio.run(follow())
    if failed:
        raise Failed(f"{failed} of {len(heads)} head(s) are not of the log this auditor follows")
