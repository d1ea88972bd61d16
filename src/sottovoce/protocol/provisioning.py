"""Linking a new device: the linking code and the provisioning message sealed to it.

Signal's provisioning flow, with RFC 9180 HPKE in place of its ad-hoc ECDH +
AES-CBC + HMAC construction. The new device draws an ephemeral X25519 key pair
and its own identity, and shows a *linking code*:

    "SVLK" | u8 version=1 | 16-byte channel id | 32-byte ephemeral X25519 public |
    PublicIdentity of the new device (129 bytes)

It reaches the existing device out of band (scanned or typed), so the server
cannot change it: the existing device signs into the account's device list
exactly the identity the code names, and seals the provisioning message to
exactly that ephemeral key (HPKE base mode, DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256, ChaCha20-Poly1305; RFC 9180 §5.1, §6.1) with the whole code as
associated data. The server relays ``enc || ciphertext`` as opaque bytes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sottovoce.crypto import dh, hpke
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.identity import PUBLIC_IDENTITY_LEN, PublicIdentity

_MAGIC = b"SVLK"
_VERSION = 1
CHANNEL_ID_LEN = 16
_ENC_LEN = 32
_INFO = b"Sottovoce provisioning v1"
_AEAD = hpke.AeadId.CHACHA20_POLY1305
LINKING_CODE_LEN = len(_MAGIC) + 1 + CHANNEL_ID_LEN + 32 + PUBLIC_IDENTITY_LEN
# Typed codes are shown as unpadded base64url text after this prefix.
TEXT_PREFIX = "sv-link:"


@dataclass(frozen=True, slots=True)
class LinkingCode:
    channel: bytes
    ephemeral_public: bytes
    identity: PublicIdentity

    def to_bytes(self) -> bytes:
        return (
            _MAGIC
            + bytes([_VERSION])
            + self.channel
            + self.ephemeral_public
            + self.identity.to_bytes()
        )

    def to_text(self) -> str:
        return TEXT_PREFIX + base64.urlsafe_b64encode(self.to_bytes()).decode().rstrip("=")

    @property
    def channel_text(self) -> str:
        """The channel id as the server names it (base64url, unpadded)."""
        return base64.urlsafe_b64encode(self.channel).decode().rstrip("=")

    @classmethod
    def from_bytes(cls, data: bytes) -> LinkingCode:
        if len(data) != LINKING_CODE_LEN:
            raise DecodeError(f"a linking code is {LINKING_CODE_LEN} bytes, got {len(data)}")
        if data[:4] != _MAGIC:
            raise DecodeError("this is not a Sottovoce linking code")
        if data[4] != _VERSION:
            raise DecodeError(f"unknown linking code version {data[4]}")
        pos = 5
        channel = data[pos : pos + CHANNEL_ID_LEN]
        pos += CHANNEL_ID_LEN
        ephemeral = data[pos : pos + 32]
        identity = PublicIdentity.from_bytes(data[pos + 32 :])
        return cls(channel, ephemeral, identity)

    @classmethod
    def from_text(cls, text: str) -> LinkingCode:
        text = text.strip()
        if not text.startswith(TEXT_PREFIX):
            raise DecodeError(f"a linking code starts with {TEXT_PREFIX!r}")
        body = text[len(TEXT_PREFIX) :]
        try:
            data = _unbase64url(body)
        except (binascii.Error, ValueError) as exc:
            raise DecodeError("the linking code is not valid base64url") from exc
        return cls.from_bytes(data)


def _unbase64url(text: str) -> bytes:
    """RFC 4648 §5 without padding, strictly: any other character is an error."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def channel_id_from_text(channel: str) -> bytes:
    try:
        raw = _unbase64url(channel)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("the server's channel id is not base64url") from exc
    if len(raw) != CHANNEL_ID_LEN:
        raise DecodeError(f"a channel id is {CHANNEL_ID_LEN} bytes")
    return raw


def seal_provisioning(code: LinkingCode, message: bytes) -> bytes:
    """``enc || ciphertext``: the provisioning message, readable only by the new device."""
    enc, ciphertext = hpke.seal_base(_AEAD, code.ephemeral_public, _INFO, code.to_bytes(), message)
    return enc + ciphertext


def open_provisioning(code: LinkingCode, ephemeral: dh.DHKeyPair, sealed: bytes) -> bytes:
    if len(sealed) <= _ENC_LEN:
        raise DecodeError("the provisioning message is truncated")
    try:
        return hpke.open_base(
            _AEAD, sealed[:_ENC_LEN], ephemeral, _INFO, code.to_bytes(), sealed[_ENC_LEN:]
        )
    except CryptoError as exc:
        raise VerificationError("the provisioning message does not decrypt") from exc
