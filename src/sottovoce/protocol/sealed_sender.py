"""Sealed sender: an envelope the server can deliver without learning who sent it.

After Signal's sealed sender (Signal blog, "Technology preview: Sealed sender for
Signal", 2018; libsignal ``sealed_sender.rs``). The one-to-one message (a PQXDH
PreKey message or a Double Ratchet message, already end-to-end encrypted) is
wrapped together with the sender's certificate and encrypted once more, to the
recipient device, with HPKE base mode (RFC 9180 §5.1.1, §6.1:
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM). What the server sees is
only: recipient device, size, arrival time.

    sealed envelope:  u8 version | enc (32) | HPKE ciphertext
    HPKE plaintext:   u8 version | u8 inner type | u16 certificate_len |
                      sender certificate | inner message

The HPKE ``info`` binds the recipient device's public identity, so an envelope
cannot be redirected to another device. The HPKE key is the recipient device's
X25519 identity key, as Signal's sealed sender uses the identity key; HPKE's own
labels keep that use apart from PQXDH. The wrapping is classical (X25519): a
future quantum adversary could learn who sent a recorded envelope, never what it
said — the inner message keeps PQXDH's protection.

Who may send sealed: the server accepts a sealed envelope only with the
recipient's *unidentified-access key* (``protocol.public.unidentified_access``), derived
from the recipient's profile key, which a person shares (inside encrypted
messages) only with the people they write to. Strangers therefore cannot use
sealed sender; their messages name them and can be handled as message requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import dh, hashing, hpke, signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.encoding import Reader, check_version
from sottovoce.protocol.errors import DecodeError, DecryptionError
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.sender_certificate import MAX_CERTIFICATE_LEN, SenderCertificate
from sottovoce.protocol.public.unidentified_access import PROFILE_KEY_LEN
from sottovoce.protocol.wire import MAX_MESSAGE_LEN, MessageType, message_type

SEALED_VERSION = 1
_AEAD = hpke.AeadId.AES_256_GCM
_INFO = b"Sottovoce sealed sender v1\x00"
_FIRST_PROFILE_KEY_INFO = b"Sottovoce first profile key v1"
_HEADER_LEN = 1 + hpke.NENC
_TAG_LEN = 16
# The largest sealed envelope: the inner message, its certificate and framing, the
# HPKE encapsulated key and AEAD tag. Anything longer is refused before opening.
MAX_SEALED_LEN = _HEADER_LEN + 1 + 1 + 2 + MAX_CERTIFICATE_LEN + MAX_MESSAGE_LEN + _TAG_LEN


def first_profile_key(account_key: signing.SigningKey) -> bytes:
    """An account's first profile key: HKDF-SHA256 (RFC 5869) of its account key
    under its own label, so every device holding the account key derives the same
    one without exchanging it; the profile key reveals nothing of the account key."""
    return hashing.hkdf_sha256(
        account_key.private_bytes(), salt=None, info=_FIRST_PROFILE_KEY_INFO, length=PROFILE_KEY_LEN
    )


@dataclass(frozen=True, slots=True)
class SealedContent:
    """An opened sealed envelope: the certificate is parsed but not yet verified."""

    certificate: SenderCertificate
    kind: MessageType
    message: bytes

    def __repr__(self) -> str:
        return f"SealedContent({self.certificate!r}, {self.kind.name}, <{len(self.message)} bytes>)"


def _info(recipient: PublicIdentity) -> bytes:
    return _INFO + recipient.to_bytes()


def seal(recipient: PublicIdentity, certificate: bytes, message: bytes) -> bytes:
    """Wrap one inner message (PreKey or ratchet) for ``recipient``'s device."""
    kind = message_type(message)
    if not 0 < len(certificate) <= MAX_CERTIFICATE_LEN:
        raise DecodeError("a sender certificate is missing or too long")
    plaintext = b"".join(
        (
            bytes([SEALED_VERSION, kind]),
            len(certificate).to_bytes(2, "big"),
            certificate,
            message,
        )
    )
    aad = bytes([SEALED_VERSION])
    enc, ciphertext = hpke.seal_base(_AEAD, recipient.dh_public, _info(recipient), aad, plaintext)
    return aad + enc + ciphertext


def open_sealed(own_key: dh.DHKeyPair, own: PublicIdentity, envelope: bytes) -> SealedContent:
    """Open a sealed envelope addressed to this device.

    Raises :class:`DecodeError` for malformed input and :class:`DecryptionError`
    when it was not sealed to this device or was altered in transit.
    """
    if len(envelope) > MAX_SEALED_LEN:
        raise DecodeError(f"sealed envelope is longer than {MAX_SEALED_LEN} bytes")
    if len(envelope) <= _HEADER_LEN + _TAG_LEN:
        raise DecodeError("sealed envelope is truncated")
    check_version(envelope[0], SEALED_VERSION, "sealed envelope")
    try:
        plaintext = hpke.open_base(
            _AEAD,
            envelope[1:_HEADER_LEN],
            own_key,
            _info(own),
            envelope[:1],
            envelope[_HEADER_LEN:],
        )
    except CryptoError as exc:
        raise DecryptionError("the sealed envelope does not open for this device") from exc
    reader = Reader(plaintext, "sealed content")
    check_version(reader.u8("version"), SEALED_VERSION, "sealed content")
    try:
        kind = MessageType(reader.u8("inner type"))
    except ValueError:
        raise DecodeError("sealed content has an unknown inner type") from None
    certificate = SenderCertificate.from_bytes(
        reader.fixed(reader.u16("certificate length"), "certificate")
    )
    message = reader.rest()
    if message_type(message) is not kind:
        raise DecodeError("sealed content's inner type does not match its message")
    return SealedContent(certificate, kind, message)
