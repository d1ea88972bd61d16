"""Sealed envelopes (HPKE, RFC 9180): only the addressed device opens them, intact."""

from __future__ import annotations

import pytest

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import DecodeError, DecryptionError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.sender_certificate import SenderCertificate
from sottovoce.protocol.public.unidentified_access import (
    ACCESS_KEY_LEN,
    PROFILE_KEY_LEN,
    unidentified_access_key,
)
from sottovoce.protocol.sealed_sender import MAX_SEALED_LEN, first_profile_key, open_sealed, seal
from sottovoce.protocol.wire import RATCHET_PREFIX, MessageType

SENDER = IdentityKeyPair.generate()
RECIPIENT = IdentityKeyPair.generate()
CERTIFICATE = SenderCertificate.issue(
    SigningKey.generate(),
    1,
    address="alice@chat",
    device_id=1,
    identity=SENDER.public,
    expires_ms=10**13,
).encoded
# A well-formed ratchet message: header, then one padding block plus the tag.
INNER = RATCHET_PREFIX + bytes(40) + bytes(160 + 16)


def test_the_recipient_device_opens_what_was_sealed_to_it() -> None:
    sealed = seal(RECIPIENT.public, CERTIFICATE, INNER)
    opened = open_sealed(RECIPIENT.dh_key, RECIPIENT.public, sealed)
    assert opened.kind is MessageType.MESSAGE
    assert opened.message == INNER
    assert opened.certificate.encoded == CERTIFICATE


def test_the_sender_is_not_visible_in_the_sealed_bytes() -> None:
    sealed = seal(RECIPIENT.public, CERTIFICATE, INNER)
    assert b"alice@chat" not in sealed
    assert SENDER.public.sign_public not in sealed and SENDER.public.dh_public not in sealed


def test_another_device_cannot_open_it() -> None:
    other = IdentityKeyPair.generate()
    sealed = seal(RECIPIENT.public, CERTIFICATE, INNER)
    with pytest.raises(DecryptionError):
        open_sealed(other.dh_key, other.public, sealed)
    # Nor can the right key under another device's identity (info binds the identity).
    with pytest.raises(DecryptionError):
        open_sealed(RECIPIENT.dh_key, other.public, sealed)


@pytest.mark.parametrize("position", [5, 40, 100, -1])
def test_an_altered_envelope_does_not_open(position: int) -> None:
    sealed = bytearray(seal(RECIPIENT.public, CERTIFICATE, INNER))
    sealed[position] ^= 0x80
    with pytest.raises(DecryptionError):
        open_sealed(RECIPIENT.dh_key, RECIPIENT.public, bytes(sealed))


def test_malformed_envelopes_name_their_fault() -> None:
    sealed = seal(RECIPIENT.public, CERTIFICATE, INNER)
    with pytest.raises(DecodeError, match="truncated"):
        open_sealed(RECIPIENT.dh_key, RECIPIENT.public, sealed[:40])
    with pytest.raises(DecodeError, match="truncated"):
        open_sealed(RECIPIENT.dh_key, RECIPIENT.public, b"")
    with pytest.raises(DecodeError, match="version"):
        open_sealed(RECIPIENT.dh_key, RECIPIENT.public, b"\x09" + sealed[1:])
    with pytest.raises(DecodeError, match="longer"):
        open_sealed(RECIPIENT.dh_key, RECIPIENT.public, bytes(MAX_SEALED_LEN + 1))
    with pytest.raises(DecodeError):
        seal(RECIPIENT.public, CERTIFICATE, b"\x01\x09" + bytes(10))
    with pytest.raises(DecodeError, match="certificate"):
        seal(RECIPIENT.public, b"", INNER)


def test_access_keys_derive_from_the_profile_key_only() -> None:
    key = bytes(range(PROFILE_KEY_LEN))
    access = unidentified_access_key(key)
    assert len(access) == ACCESS_KEY_LEN
    assert access == unidentified_access_key(key)
    assert access != unidentified_access_key(bytes(PROFILE_KEY_LEN))
    with pytest.raises(DecodeError):
        unidentified_access_key(key[:-1])


def test_the_first_profile_key_is_the_same_on_every_device_of_an_account() -> None:
    account = SigningKey.generate()
    again = SigningKey.from_bytes(account.private_bytes())  # a linked device's copy
    key = first_profile_key(account)
    assert len(key) == PROFILE_KEY_LEN and key == first_profile_key(again)
    assert key != first_profile_key(SigningKey.generate())
    assert key not in (account.private_bytes(), account.public)
