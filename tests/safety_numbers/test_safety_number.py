"""Safety numbers (``protocol.safety_number``): same on both sides, changes with any key
or device, scannable form checks the pair."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.crypto.hashing import sha512
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.protocol.safety_number import (
    ITERATIONS,
    SafetyNumber,
    fingerprint,
    material,
)

A, B = "alice@chat", "bob@photos"


def devices(address: str, *identities: IdentityKeyPair, version: int = 1) -> DeviceList:
    return DeviceList(
        address, version, tuple(DeviceEntry(i + 1, k.public, 0) for i, k in enumerate(identities))
    )


@pytest.fixture(scope="module")
def sides() -> tuple[bytes, DeviceList, bytes, DeviceList]:
    a_key, b_key = SigningKey.generate().public, SigningKey.generate().public
    return (
        a_key,
        devices(A, IdentityKeyPair.generate()),
        b_key,
        devices(B, IdentityKeyPair.generate()),
    )


def numbers(
    sides: tuple[bytes, DeviceList, bytes, DeviceList],
) -> tuple[SafetyNumber, SafetyNumber]:
    a_key, a_list, b_key, b_list = sides
    at_a = SafetyNumber.compute(A, material(a_key, a_list), B, material(b_key, b_list))
    at_b = SafetyNumber.compute(B, material(b_key, b_list), A, material(a_key, a_list))
    return at_a, at_b


def test_both_sides_see_the_same_sixty_digits(sides) -> None:  # type: ignore[no-untyped-def]
    at_a, at_b = numbers(sides)
    assert at_a.digits() == at_b.digits()
    assert len(at_a.digits()) == 60 and at_a.digits().isdigit()
    assert len(at_a.groups()) == 12 and all(len(g) == 5 for g in at_a.groups())


def test_each_side_scans_the_other(sides) -> None:  # type: ignore[no-untyped-def]
    at_a, at_b = numbers(sides)
    at_a.check_scanned(at_b.scannable())
    at_b.check_scanned(at_a.scannable())
    with pytest.raises(VerificationError):
        at_a.check_scanned(at_a.scannable())  # one's own code is not the other side's
    with pytest.raises(DecodeError):
        at_a.check_scanned(at_b.scannable()[:-1])
    with pytest.raises(DecodeError):
        at_a.check_scanned(b"XXXX" + at_b.scannable()[4:])


def test_a_new_device_or_key_on_either_side_changes_the_number(sides) -> None:  # type: ignore[no-untyped-def]
    a_key, a_list, b_key, b_list = sides
    base = numbers(sides)[0].digits()
    ghost = DeviceEntry(9, IdentityKeyPair.generate().public, 0)
    with_ghost = DeviceList(B, 2, (*b_list.devices, ghost))
    assert numbers((a_key, a_list, b_key, with_ghost))[0].digits() != base
    assert (
        numbers((a_key, DeviceList(A, 2, (*a_list.devices, ghost)), b_key, b_list))[0].digits()
        != base
    )
    assert numbers((a_key, a_list, SigningKey.generate().public, b_list))[0].digits() != base
    # Re-signing the same devices under a new version is no change to check.
    same = DeviceList(B, 7, b_list.devices)
    assert numbers((a_key, a_list, b_key, same))[0].digits() == base


def test_the_fingerprint_is_the_iterated_hash_of_the_spec() -> None:
    """Recomputed independently of the module: SHA-512 over version, material and id,
    then ITERATIONS rounds over the digest and the material; 32 bytes kept."""
    m = b"material bytes"
    digest = sha512(b"\x00\x02" + m + A.encode())
    for _ in range(ITERATIONS):
        digest = sha512(digest + m)
    assert fingerprint(m, A) == digest[:32]


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_digits_are_five_per_chunk_mod_100000(left: bytes, right: bytes) -> None:
    number = SafetyNumber(left, right)
    halves = {number.digits()[:30], number.digits()[30:]}
    for fp in (left, right):
        expected = "".join(
            f"{int.from_bytes(fp[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
        )
        assert expected in halves
