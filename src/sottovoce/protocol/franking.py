"""The plaintext every one-to-one message encrypts: franking key, profile key, content.

Layout (inside the Double Ratchet encryption, so only the recipient sees it)::

    u8 version | franking key Kf (32) | u8 flags | [profile key (32) if flags & 1] | content

``content`` is the exact byte string the recipient decodes and shows; the
franking commitment outside the encryption is computed over it
(``protocol.public.franking``). The sender's profile key rides along so that a
contact can later send to it sealed (``protocol.sealed_sender``); it is *not*
committed, so revealing a message in an abuse report never reveals it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sottovoce.crypto.random import random_bytes
from sottovoce.protocol.encoding import Reader, check_version
from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.public.franking import FRANKING_KEY_LEN, check_commitment, commitment
from sottovoce.protocol.public.unidentified_access import PROFILE_KEY_LEN

FRANKED_VERSION = 1
_HAS_PROFILE_KEY = 0x01


@dataclass(frozen=True, slots=True)
class FrankedPlaintext:
    content: bytes = field(repr=False)
    franking_key: bytes = field(repr=False)
    profile_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def new(cls, content: bytes, profile_key: bytes | None = None) -> FrankedPlaintext:
        """Wrap ``content`` with a fresh franking key (one per message, never reused)."""
        if not content:
            raise DecodeError("there is no content to send")
        if profile_key is not None and len(profile_key) != PROFILE_KEY_LEN:
            raise DecodeError(f"a profile key is {PROFILE_KEY_LEN} bytes")
        return cls(content, random_bytes(FRANKING_KEY_LEN), profile_key)

    def commitment(self, certificate: bytes = b"") -> bytes:
        return commitment(self.franking_key, self.content, certificate)

    def check(self, expected: bytes, certificate: bytes = b"") -> None:
        """Raise ``FrankingMismatch`` unless ``expected`` commits to this content."""
        check_commitment(expected, self.franking_key, self.content, certificate)

    def to_bytes(self) -> bytes:
        flags = 0 if self.profile_key is None else _HAS_PROFILE_KEY
        return b"".join(
            (
                bytes([FRANKED_VERSION]),
                self.franking_key,
                bytes([flags]),
                self.profile_key or b"",
                self.content,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FrankedPlaintext:
        reader = Reader(data, "franked plaintext")
        check_version(reader.u8("version"), FRANKED_VERSION, "franked plaintext")
        franking_key = reader.fixed(FRANKING_KEY_LEN, "franking key")
        flags = reader.u8("flags")
        if flags & ~_HAS_PROFILE_KEY:
            raise DecodeError(f"franked plaintext has unknown flags {flags:#x}")
        profile_key = (
            reader.fixed(PROFILE_KEY_LEN, "profile key") if flags & _HAS_PROFILE_KEY else None
        )
        content = reader.rest()
        if not content:
            raise DecodeError("franked plaintext carries no content")
        return cls(content, franking_key, profile_key)
