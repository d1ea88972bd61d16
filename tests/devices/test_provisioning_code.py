"""The linking code and the provisioning message sealed to it (``protocol.provisioning``)."""

from __future__ import annotations

import pytest

from sottovoce.crypto import dh
from sottovoce.crypto.random import random_bytes
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.provisioning import (
    LINKING_CODE_LEN,
    LinkingCode,
    open_provisioning,
    seal_provisioning,
)


def fresh() -> tuple[LinkingCode, dh.DHKeyPair]:
    ephemeral = dh.DHKeyPair.generate()
    return LinkingCode(
        random_bytes(16), ephemeral.public, IdentityKeyPair.generate().public
    ), ephemeral


def test_a_code_round_trips_as_text_and_bytes() -> None:
    code, _ = fresh()
    assert LinkingCode.from_text(code.to_text()) == code
    assert len(code.to_bytes()) == LINKING_CODE_LEN
    assert code.to_text().startswith("sv-link:")


def test_only_the_codes_ephemeral_key_opens_the_message() -> None:
    code, ephemeral = fresh()
    sealed = seal_provisioning(code, b"account key material")
    assert b"account key material" not in sealed
    assert open_provisioning(code, ephemeral, sealed) == b"account key material"
    other_code, other_key = fresh()
    with pytest.raises(VerificationError):
        open_provisioning(code, other_key, sealed)
    # The whole code is bound: the same key under another channel or identity fails.
    moved = LinkingCode(other_code.channel, code.ephemeral_public, code.identity)
    with pytest.raises(VerificationError):
        open_provisioning(moved, ephemeral, sealed)
    with pytest.raises(VerificationError):
        open_provisioning(code, ephemeral, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(DecodeError):
        open_provisioning(code, ephemeral, sealed[:10])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("hello", "starts with"),
        ("sv-link:!!!", "base64url"),
        ("sv-link:AAAA", "linking code is"),
    ],
)
def test_malformed_codes_name_the_fault(text: str, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        LinkingCode.from_text(text)


def test_a_code_with_a_bad_identity_binding_is_refused() -> None:
    code, _ = fresh()
    raw = bytearray(code.to_bytes())
    raw[-1] ^= 1  # the identity's binding signature
    with pytest.raises(VerificationError):
        LinkingCode.from_bytes(bytes(raw))
    raw = bytearray(code.to_bytes())
    raw[0:4] = b"XXXX"
    with pytest.raises(DecodeError, match="not a Sottovoce linking code"):
        LinkingCode.from_bytes(bytes(raw))
