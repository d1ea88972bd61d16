"""Encrypted backup: a profile restored elsewhere works; a wrong passphrase or a damaged
file is refused and changes nothing."""

from __future__ import annotations

import secrets
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.backup import MAGIC, BackupError, restore_backup
from tests.support.live_server import LiveServer
from tests.support.people import FAST_ARGON2, two_people

RECOVERY = "recovery words for the test"


@pytest.fixture
async def pair(
    live_server_module: LiveServer, tmp_path: Path
) -> AsyncIterator[tuple[Client, Client]]:
    async with two_people(live_server_module.url, tmp_path, ("pa", "pb")) as people:
        yield people


async def test_restore_brings_back_keys_contacts_and_history(
    pair: tuple[Client, Client], tmp_path: Path
) -> None:
    alice, bob = pair
    await alice.send(bob.address, "before the backup")
    await bob.fetch()
    await bob.send(alice.address, "a reply")
    await alice.fetch()
    backup = tmp_path / "alice.svbackup"
    alice.export_backup(backup, RECOVERY, argon2=FAST_ARGON2)
    assert backup.read_bytes().startswith(MAGIC)
    assert b"before the backup" not in backup.read_bytes()
    address = alice.address
    await alice.close()  # the old machine is gone

    restore_backup(backup, tmp_path / "new-machine", RECOVERY)
    restored = await Client.open(tmp_path / "new-machine", passphrase="pa")
    try:
        assert restored.address == address
        assert [e.text for e in restored.history(bob.address)] == ["before the backup", "a reply"]
        # Fresh sessions: the restored device can talk both ways again.
        await restored.send(bob.address, "back on a new machine")
        assert [m.text for m in await bob.fetch()] == ["back on a new machine"]
        await bob.send(address, "welcome back")
        assert [m.text for m in await restored.fetch()] == ["welcome back"]
    finally:
        await restored.close()


async def test_wrong_passphrase_or_damage_changes_nothing(
    pair: tuple[Client, Client], tmp_path: Path
) -> None:
    alice, _ = pair
    backup = tmp_path / "alice.svbackup"
    alice.export_backup(backup, RECOVERY, argon2=FAST_ARGON2)
    target = tmp_path / "target"
    with pytest.raises(BackupError, match="wrong recovery passphrase"):
        restore_backup(backup, target, "not the passphrase")
    data = backup.read_bytes()
    for position in (len(data) - 1, len(data) // 2, len(MAGIC) + 20):
        damaged = bytearray(data)
        damaged[position] ^= 1
        (tmp_path / "damaged").write_bytes(bytes(damaged))
        with pytest.raises(BackupError):
            restore_backup(tmp_path / "damaged", target, RECOVERY)
    (tmp_path / "short").write_bytes(data[: len(data) // 3])
    with pytest.raises(BackupError):
        restore_backup(tmp_path / "short", target, RECOVERY)
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    header = data[len(MAGIC) + 4 : len(MAGIC) + 4 + length]
    costly = header.replace(b'"memory_kib":8192', b'"memory_kib":99999999')
    rest = data[len(MAGIC) + 4 + length :]
    (tmp_path / "costly").write_bytes(MAGIC + struct.pack(">I", len(costly)) + costly + rest)
    with pytest.raises(BackupError, match="key derivation"):
        restore_backup(tmp_path / "costly", target, RECOVERY)
    with pytest.raises(BackupError, match="not a Sottovoce backup"):
        restore_backup(tmp_path / "a" / "profile.json", target, RECOVERY)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restore-")] == []
    with pytest.raises(BackupError, match="at least 8 characters"):
        alice.export_backup(tmp_path / "weak", "short")
    (target / "x").parent.mkdir()
    (target / "x").write_text("someone's file")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(backup, target, RECOVERY)
    assert (target / "x").read_text() == "someone's file"


def test_cli_export_and_restore(live_server_module: LiveServer, tmp_path: Path) -> None:
    cli = str(Path(sys.executable).with_name("sottovoce"))
    recovery = tmp_path / "recovery"
    recovery.write_text(RECOVERY + "\n")
    handle = f"cli-{secrets.token_hex(3)}"
    env_profile = ["--profile", str(tmp_path / "p")]
    subprocess.run(
        [
            cli,
            *env_profile,
            "account",
            "create",
            "--server",
            live_server_module.url,
            "--app",
            "chat",
            "--handle",
            handle,
        ],
        check=True,
        capture_output=True,
    )
    exported = subprocess.run(
        [
            cli,
            *env_profile,
            "backup",
            "export",
            str(tmp_path / "b.svbackup"),
            "--recovery-file",
            str(recovery),
        ],
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0, exported.stderr
    restored = subprocess.run(
        [
            cli,
            "--profile",
            str(tmp_path / "q"),
            "backup",
            "restore",
            str(tmp_path / "b.svbackup"),
            "--recovery-file",
            str(recovery),
        ],
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr
    shown = subprocess.run(
        [cli, "--profile", str(tmp_path / "q"), "account", "show"], capture_output=True, text=True
    )
    assert f"{handle}@chat" in shown.stdout
    recovery.write_text("wrong wrong wrong\n")
    refused = subprocess.run(
        [
            cli,
            "--profile",
            str(tmp_path / "r"),
            "backup",
            "restore",
            str(tmp_path / "b.svbackup"),
            "--recovery-file",
            str(recovery),
        ],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: wrong recovery passphrase, or the backup file is damaged"
    )
    assert not (tmp_path / "r").exists()
