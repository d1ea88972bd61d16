"""The ``sottovoce`` command line run in-process (typer's CliRunner), as a person types it.

Its consoles are one fixed width in every test (tests/support/cli_console.py); what a
test must pick out of the output exactly, such as a message id, it reads from ``--json``.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sottovoce.cli.main import app

runner = CliRunner()


def sv(profile: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``sottovoce --profile PROFILE ARGS…``: the exit code, stdout and stderr."""
    result = runner.invoke(app, ["--profile", str(profile), *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def create_account(profile: Path, server_url: str, app_name: str, handle: str) -> None:
    """``sottovoce account create``, which must succeed."""
    code, out, err = sv(
        profile, "account", "create", "--server", server_url, "--app", app_name, "--handle", handle
    )
    assert code == 0, err or out
    assert f"{handle}@{app_name}" in out
