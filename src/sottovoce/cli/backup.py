"""``sottovoce backup export FILE`` and ``sottovoce backup restore FILE``.

The recovery passphrase is asked twice on export (hidden), or read from
``--recovery-file`` (its first line). Restore writes the profile directory given
by ``--profile``, which must not exist yet (docs/app.md#encrypted-backup).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from sottovoce.cli.profile import Profile, read_passphrase_file
from sottovoce.cli.render import out, plain
from sottovoce.client.backup import restore_backup

backup_app = typer.Typer(help="Encrypted backup of this profile.", no_args_is_help=True)

FileArgument = Annotated[Path, typer.Argument(help="The backup file.")]
RecoveryFile = Annotated[
    Path | None,
    typer.Option(help="File whose first line is the recovery passphrase (else asked)."),
]


def _recovery(path: Path | None, *, confirm: bool) -> str:
    if path is not None:
        return read_passphrase_file(path)
    return str(typer.prompt("Recovery passphrase", hide_input=True, confirmation_prompt=confirm))


def register(app: typer.Typer, with_client: Any) -> None:
    app.add_typer(backup_app, name="backup")

    @backup_app.command("export")
    def export(ctx: typer.Context, file: FileArgument, recovery_file: RecoveryFile = None) -> None:
        """Write keys, contacts and history to FILE, encrypted under a recovery passphrase."""
        passphrase = _recovery(recovery_file, confirm=True)

        async def write(client: Any) -> str:
            client.export_backup(file, passphrase)
            return str(client.address)

        address = with_client(ctx, write)
        out.print(Text.assemble("backed up ", plain(address, "bold"), f" to {file}"))

    @backup_app.command("restore")
    def restore(ctx: typer.Context, file: FileArgument, recovery_file: RecoveryFile = None) -> None:
        """Recreate the profile from FILE (into --profile, which must not exist)."""
        profile: Profile = ctx.obj
        restore_backup(file, profile.directory, _recovery(recovery_file, confirm=False))
        out.print(
            Text.assemble(
                f"restored the profile into {profile.directory}; ",
                "unlock it with its usual passphrase. Run this device only: the old one ",
                "should no longer be used.",
            )
        )
