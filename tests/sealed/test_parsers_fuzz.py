"""Arbitrary bytes at every sealed-sender and franking parser: a typed error naming the
fault, never anything else (DESIGN.md: bad input)."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.sender_certificate import SenderCertificate
from sottovoce.protocol.sealed_sender import open_sealed

RECIPIENT = IdentityKeyPair.generate()


@given(st.binary(max_size=600))
def test_sealed_envelopes(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        open_sealed(RECIPIENT.dh_key, RECIPIENT.public, data)


@given(st.binary(max_size=400))
def test_sender_certificates(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        SenderCertificate.from_bytes(data)


@given(st.binary(max_size=200))
def test_franked_plaintexts(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        FrankedPlaintext.from_bytes(data)


@given(st.binary(min_size=1, max_size=200))
def test_certificates_with_a_valid_prefix(tail: bytes) -> None:
    # Past the version byte, so the fields' own checks are what is exercised.
    with contextlib.suppress(ProtocolError):
        SenderCertificate.from_bytes(b"\x01" + tail)
