"""Searching the files a server wrote for secrets, in every encoding they could take."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# A needle shorter than this could turn up in random ciphertext by chance (its
# base64 cores would be a handful of characters), so a search refuses it.
MIN_NEEDLE_BYTES = 8


def _base64_cores(data: bytes, encode: Callable[[bytes], bytes]) -> list[bytes]:
    """The base64 characters that depend only on ``data``, for each of the three
    alignments ``data`` can have inside a longer encoded value (RFC 4648 §4: each
    character carries 6 bits, so the alignment repeats every 3 bytes)."""
    cores = []
    for offset in range(3):
        encoded = encode(bytes(offset) + data)
        first = -(-8 * offset // 6)  # the first character with no bit of the padding
        last = 8 * (offset + len(data)) // 6  # one past the last whole character
        cores.append(encoded[first:last])
    return cores


def encoded_forms(needle: bytes) -> dict[str, bytes]:
    """``needle`` as it could sit in a file: raw, hex, base64 (standard and URL-safe,
    any alignment) and, when it is text, UTF-16 in both byte orders."""
    if len(needle) < MIN_NEEDLE_BYTES:
        raise ValueError(f"a needle of {len(needle)} bytes would match by chance")
    forms = {
        "raw": needle,
        "hex": binascii.hexlify(needle),
        "HEX": binascii.hexlify(needle).upper(),
    }
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for offset, core in enumerate(_base64_cores(needle, encode)):
            forms[f"{name}+{offset}"] = core
    try:
        text = needle.decode("utf-8")
    except UnicodeDecodeError:
        return forms
    forms["utf-16-le"] = text.encode("utf-16-le")
    forms["utf-16-be"] = text.encode("utf-16-be")
    return forms


def server_files(directory: Path) -> dict[str, bytes]:
    """Every file the server wrote: its database with ``-wal``/``-shm``, and its log."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


@dataclass(frozen=True)
class Leak:
    needle: str  # a label for what was found, never the secret itself
    form: str
    file: str


def find_leaks(files: dict[str, bytes], needles: dict[str, bytes]) -> list[Leak]:
    """Every (needle, form, file) where a form of a needle occurs in a file."""
    leaks = []
    for label, needle in needles.items():
        for form, encoded in encoded_forms(needle).items():
            leaks += [Leak(label, form, name) for name, data in files.items() if encoded in data]
    return leaks
