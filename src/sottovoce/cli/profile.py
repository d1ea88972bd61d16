"""Which profile a command works on, and how that profile is unlocked.

A profile is the directory holding one device's encrypted local store. The
passphrase, when there is one, is read only when a command opens the profile,
so ``sottovoce server`` never trips over a passphrase file it does not need.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sottovoce.cli.failures import Failed

PROFILE_ENV = "SOTTOVOCE_PROFILE"
PASSPHRASE_ENV = "SOTTOVOCE_PASSPHRASE"  # noqa: S105  (a variable's name, not a secret)
# A passphrase is one line a person types; a "passphrase file" larger than this
# is a wrong path (a key, a log), and reading it whole would be pointless.
MAX_PASSPHRASE_FILE_BYTES = 4096


def default_profile() -> Path:
    """``$XDG_DATA_HOME/sottovoce/default``, i.e. ``~/.local/share/sottovoce/default``.

    The XDG base-directory spec says a relative ``XDG_DATA_HOME`` is invalid and
    must be ignored.
    """
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "sottovoce" / "default"


def read_passphrase_file(path: Path) -> str:
    """The first line of ``path``, without its line ending."""
    try:
        if path.stat().st_size > MAX_PASSPHRASE_FILE_BYTES:
            raise Failed(f"{path} is larger than a passphrase file can be")
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Failed(f"cannot read a passphrase from {path}") from exc
    if not lines or not lines[0]:
        raise Failed(f"the first line of {path} is empty; it should hold the passphrase")
    return lines[0]


@dataclass(frozen=True)
class Profile:
    """The profile directory and where its passphrase comes from (read on demand)."""

    directory: Path
    passphrase_file: Path | None = None

    def passphrase(self) -> str | None:
        """``--passphrase-file`` first, then ``SOTTOVOCE_PASSPHRASE``; None selects the
        SDK's key-file mode (a random key in a 0600 file beside the store)."""
        if self.passphrase_file is not None:
            return read_passphrase_file(self.passphrase_file)
        return os.environ.get(PASSPHRASE_ENV) or None
