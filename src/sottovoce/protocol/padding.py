"""Length hiding: plaintexts are padded to a multiple of 160 bytes before encryption.

The scheme is Signal's: append one 0x80 byte, then zero bytes up to the next
multiple of ``PADDING_BLOCK`` (ISO/IEC 7816-4 padding). Padding sits inside the
AEAD, so a malformed pad can only come from a peer that holds the session key;
it is still rejected with a typed error rather than trusted.
"""

from __future__ import annotations

from sottovoce.protocol.errors import PaddingError

# 160 bytes is Signal's bucket: the length of a typical short text plus its
# protobuf framing. Every message up to 159 bytes looks the same on the wire and
# longer ones reveal their length only to within 160 bytes.
PADDING_BLOCK = 160
_MARKER = 0x80
_ZEROS = bytes(PADDING_BLOCK)


def padded_length(plaintext_len: int) -> int:
    """Length of ``pad(p)`` for ``len(p) == plaintext_len``: the marker always fits."""
    return (plaintext_len // PADDING_BLOCK + 1) * PADDING_BLOCK


def pad(plaintext: bytes) -> bytes:
    fill = PADDING_BLOCK - 1 - len(plaintext) % PADDING_BLOCK
    return b"".join((plaintext, b"\x80", _ZEROS[:fill]))


def unpad(padded: bytes) -> bytes:
    """Strip padding; raise :class:`PaddingError` unless it is exactly what ``pad`` makes."""
    if not padded or len(padded) % PADDING_BLOCK:
        raise PaddingError(
            f"padded plaintext length {len(padded)} is not a positive multiple of {PADDING_BLOCK}"
        )
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != _MARKER:
        raise PaddingError("padding does not end in the 0x80 marker followed by zeros")
    if len(padded) - len(stripped) >= PADDING_BLOCK:
        raise PaddingError(f"padding is longer than one {PADDING_BLOCK}-byte block")
    return stripped[:-1]
