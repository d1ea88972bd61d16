"""Downloaded attachments on this device: their ciphertext, checked, in the profile.

A file stays encrypted on disk (``attachments.decrypt_file`` reads it) and goes
when the last message pointing at it goes: deleted, withdrawn or disappeared.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# The directory of downloaded attachments, inside the profile directory.
ATTACHMENT_DIR = "attachments"


def attachment_path(profile_dir: Path, blob_id: str) -> Path:
    return profile_dir / ATTACHMENT_DIR / blob_id


def forget_blob(profile_dir: Path, blob_id: str) -> None:
    attachment_path(profile_dir, blob_id).unlink(missing_ok=True)


def forget_attachments(profile_dir: Path, entries: Iterable[dict[str, object]]) -> None:
    """Delete the downloaded files of removed history ``entries`` (their ``att``)."""
    for entry in entries:
        attachment = entry.get("att")
        blob = attachment.get("blob") if isinstance(attachment, dict) else None
        if isinstance(blob, str) and "/" not in blob:
            forget_blob(profile_dir, blob)
