"""Sender certificates: issued by the server key, checked for signature, key id and expiry."""

from __future__ import annotations

import pytest

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.sender_certificate import (
    CertificateExpired,
    SenderCertificate,
)

SERVER = SigningKey.generate()
IDENTITY = IdentityKeyPair.generate().public


def issue(address: str = "alice@chat", expires_ms: int = 2_000, key: SigningKey = SERVER) -> bytes:
    return SenderCertificate.issue(
        key, 7, address=address, device_id=3, identity=IDENTITY, expires_ms=expires_ms
    ).encoded


def test_a_certificate_round_trips_and_verifies() -> None:
    parsed = SenderCertificate.from_bytes(issue())
    parsed.verify(SERVER.public, 7, at_ms=2_000)
    assert (parsed.address, parsed.device_id, parsed.identity) == ("alice@chat", 3, IDENTITY)
    assert parsed.expires_ms == 2_000 and parsed.key_id == 7


def test_expired_at_arrival_is_refused() -> None:
    with pytest.raises(CertificateExpired):
        SenderCertificate.from_bytes(issue(expires_ms=1_000)).verify(SERVER.public, 7, 1_001)


def test_another_key_or_key_id_is_refused() -> None:
    with pytest.raises(VerificationError, match="signature"):
        SenderCertificate.from_bytes(issue(key=SigningKey.generate())).verify(SERVER.public, 7, 0)
    with pytest.raises(VerificationError, match="server key 7"):
        SenderCertificate.from_bytes(issue()).verify(SERVER.public, 8, 0)


@pytest.mark.parametrize("position", [1, 6, 20, 150, 160, -1])
def test_any_altered_byte_is_refused(position: int) -> None:
    data = bytearray(issue())
    data[position] ^= 0x01
    with pytest.raises((DecodeError, VerificationError)):
        SenderCertificate.from_bytes(bytes(data)).verify(SERVER.public, 7, 0)


def test_malformed_certificates_name_their_fault() -> None:
    good = issue()
    with pytest.raises(DecodeError, match="empty"):
        SenderCertificate.from_bytes(b"")
    with pytest.raises(DecodeError, match="truncated"):
        SenderCertificate.from_bytes(good[:-1])
    with pytest.raises(DecodeError, match="trailing"):
        SenderCertificate.from_bytes(good + b"\x00")
    with pytest.raises(DecodeError, match="version"):
        SenderCertificate.from_bytes(b"\x02" + good[1:])
    with pytest.raises(DecodeError, match="longer"):
        SenderCertificate.from_bytes(good + bytes(400))


def test_the_repr_names_no_key() -> None:
    text = repr(SenderCertificate.from_bytes(issue()))
    assert "alice@chat" in text and IDENTITY.sign_public.hex()[:8] not in text
