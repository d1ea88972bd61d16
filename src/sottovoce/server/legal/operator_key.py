"""The operator's Ed25519 key, which signs disclosure packages and user notices.

It lives in a file of the legal directory (``operator.key``: the 32-byte private
key in hex, mode 0600), created on first use. It is not the transparency log's
key: a package and a tree head are different statements, and an operator may
keep the legal key offline for the ``sottovoce legal`` commands only.
"""

from __future__ import annotations

import os
from pathlib import Path

from sottovoce.crypto import signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.server.legal.errors import LegalConfigError

KEY_FILE = "operator.key"


def load_or_create(directory: Path) -> signing.SigningKey:
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = signing.SigningKey.generate()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create(directory)  # another process created it first
        with os.fdopen(fd, "w") as handle:
            handle.write(key.private_bytes().hex() + "\n")
        return key
    try:
        return signing.SigningKey.from_bytes(bytes.fromhex(path.read_text().strip()))
    except (OSError, ValueError, CryptoError) as exc:
        raise LegalConfigError(f"{path} does not hold a hex Ed25519 private key") from exc
