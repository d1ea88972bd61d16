"""Identity key pairs, prekeys and bundles: storage formats and signature checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from sottovoce.crypto import signing
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.errors import DecodeError, UnknownPreKey, VerificationError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import (
    InMemoryPreKeyStore,
    KemPreKey,
    OneTimePreKey,
    SignedPreKey,
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.prekeys import (
    PrekeyKind,
    prekey_signature_message,
    verify_prekey_signature,
)
from sottovoce.protocol.session import Session

if TYPE_CHECKING:
    from conftest import Device


def test_identity_key_pair_binds_its_keys() -> None:
    identity = IdentityKeyPair.generate()
    public = identity.public
    assert public.sign_public == identity.signing_key.public
    assert public.dh_public == identity.dh_key.public
    assert PublicIdentity.from_bytes(public.to_bytes()) == public
    signing.verify(public.sign_public, identity.sign(b"msg"), b"msg")


def test_identity_key_pair_round_trips_and_hides_secrets() -> None:
    identity = IdentityKeyPair.generate()
    stored = identity.to_bytes()
    assert len(stored) == 65
    restored = IdentityKeyPair.from_bytes(stored)
    assert restored.public == identity.public
    assert restored.to_bytes() == stored
    for secret in (identity.signing_key.private_bytes(), identity.dh_key.private_bytes()):
        assert secret.hex() not in repr(identity)
        assert secret.hex()[:16] not in repr(identity)


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda b: b[:-1], "must be 65 bytes"),
        (lambda b: b + b"\x00", "must be 65 bytes"),
        (lambda b: b"", "must be 65 bytes"),
        (lambda b: b"\x02" + b[1:], "unknown identity key pair version 2"),
    ],
)
def test_identity_key_pair_rejects_malformed_storage(
    mutate: Callable[[bytes], bytes], complaint: str
) -> None:
    stored = IdentityKeyPair.generate().to_bytes()
    with pytest.raises(DecodeError, match=complaint):
        IdentityKeyPair.from_bytes(mutate(stored))


def test_prekeys_are_signed_in_their_own_domain() -> None:
    identity = IdentityKeyPair.generate()
    signed = generate_signed_prekey(identity, 7)
    verify_prekey_signature(
        identity.public, PrekeyKind.SIGNED_EC, 7, signed.public, signed.signature
    )
    (one_time_kem,) = generate_kem_prekeys(identity, 3, 1)
    (last_resort,) = generate_kem_prekeys(identity, 4, 1, last_resort=True)
    verify_prekey_signature(
        identity.public, PrekeyKind.KEM_ONE_TIME, 3, one_time_kem.public, one_time_kem.signature
    )
    verify_prekey_signature(
        identity.public, PrekeyKind.KEM_LAST_RESORT, 4, last_resort.public, last_resort.signature
    )
    with pytest.raises(VerificationError):
        verify_prekey_signature(
            identity.public,
            PrekeyKind.KEM_LAST_RESORT,
            3,
            one_time_kem.public,
            one_time_kem.signature,
        )
    with pytest.raises(VerificationError):
        verify_prekey_signature(
            identity.public, PrekeyKind.SIGNED_EC, 8, signed.public, signed.signature
        )


def test_one_time_prekeys_have_consecutive_ids() -> None:
    keys = generate_one_time_prekeys(50, 3)
    assert [k.key_id for k in keys] == [50, 51, 52]
    assert len({k.public for k in keys}) == 3


@pytest.mark.parametrize(("start", "count"), [(0, 0), (0, 1001), (-1, 1), (0xFFFF_FFFF, 2)])
def test_prekey_batches_are_bounded(start: int, count: int) -> None:
    with pytest.raises(ValueError):
        generate_one_time_prekeys(start, count)


def test_prekey_storage_round_trips() -> None:
    identity = IdentityKeyPair.generate()
    signed = generate_signed_prekey(identity, 0xFFFF_FFFF)
    (one_time,) = generate_one_time_prekeys(9, 1)
    (kem_key,) = generate_kem_prekeys(identity, 5, 1, last_resort=True)
    assert SignedPreKey.from_bytes(signed.to_bytes()).to_bytes() == signed.to_bytes()
    assert SignedPreKey.from_bytes(signed.to_bytes()).public == signed.public
    assert OneTimePreKey.from_bytes(one_time.to_bytes()).public == one_time.public
    restored = KemPreKey.from_bytes(kem_key.to_bytes())
    assert (restored.key_id, restored.public, restored.last_resort) == (5, kem_key.public, True)
    assert restored.signature == kem_key.signature
    for key in (signed, one_time, kem_key):
        assert key.key_pair.private_bytes().hex()[:16] not in repr(key)


@pytest.mark.parametrize("kind", [SignedPreKey, OneTimePreKey, KemPreKey])
def test_prekey_storage_rejects_malformed_input(kind: type) -> None:
    identity = IdentityKeyPair.generate()
    stored = {
        SignedPreKey: generate_signed_prekey(identity, 1),
        OneTimePreKey: generate_one_time_prekeys(1, 1)[0],
        KemPreKey: generate_kem_prekeys(identity, 1, 1)[0],
    }[kind].to_bytes()
    for bad, complaint in (
        (b"", "truncated in version"),
        (stored[:-1], "truncated"),
        (stored + b"\x00", "1 trailing bytes"),
        (b"\x09" + stored[1:], "unknown .* version 9"),
    ):
        with pytest.raises(DecodeError, match=complaint):
            kind.from_bytes(bad)
    if kind is KemPreKey:
        with pytest.raises(DecodeError, match="last-resort flag 2"):
            kind.from_bytes(stored[:5] + b"\x02" + stored[6:])


def test_store_raises_unknown_prekey() -> None:
    store = InMemoryPreKeyStore()
    for lookup in (store.signed_prekey, store.one_time_prekey, store.kem_prekey):
        with pytest.raises(UnknownPreKey, match="id 42"):
            lookup(42)


def test_valid_bundle_verifies(bob: Device) -> None:
    bob.bundle().verify()
    bob.bundle(one_time_id=None).verify()
    bob.bundle(last_resort=True).verify()


@pytest.mark.parametrize(
    ("field", "complaint"),
    [
        ("signed_prekey_signature", "signed prekey signature"),
        ("kem_prekey_signature", "KEM prekey signature"),
        ("signed_prekey", "signed prekey signature"),
        ("kem_prekey", "KEM prekey signature"),
    ],
)
def test_tampered_bundle_is_rejected(
    bob: Device, alice: Device, field: str, complaint: str
) -> None:
    bundle = bob.bundle()
    value = bytearray(getattr(bundle, field))
    value[len(value) // 2] ^= 0x01
    tampered = dataclasses.replace(bundle, **{field: bytes(value)})
    with pytest.raises(VerificationError, match=complaint):
        tampered.verify()
    with pytest.raises(VerificationError):
        Session.initiate(alice.identity, tampered)


@pytest.mark.parametrize(
    "changes",
    [
        {"signed_prekey_id": 2},
        {"kem_prekey_id": 2},
        {"kem_prekey_last_resort": True},
    ],
)
def test_relabelled_bundle_is_rejected(bob: Device, changes: dict[str, object]) -> None:
    with pytest.raises(VerificationError):
        dataclasses.replace(bob.bundle(), **changes).verify()


def test_bundle_under_another_identity_is_rejected(bob: Device, alice: Device) -> None:
    with pytest.raises(VerificationError):
        dataclasses.replace(bob.bundle(), identity=alice.identity.public).verify()
    forged = dataclasses.replace(bob.identity.public, dh_public=alice.identity.public.dh_public)
    with pytest.raises(VerificationError, match="identity binding"):
        dataclasses.replace(bob.bundle(), identity=forged).verify()


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"signed_prekey": bytes(31)}, "signed prekey must be 32 bytes"),
        ({"kem_prekey": bytes(1567)}, "KEM prekey must be 1568 bytes"),
        ({"signed_prekey_signature": bytes(63)}, "signed prekey signature must be 64"),
        ({"one_time_prekey": None}, "given together"),
        ({"one_time_prekey": bytes(33)}, "one-time prekey must be 32 bytes"),
        ({"signed_prekey_id": -1}, "outside"),
        ({"kem_prekey_id": 1 << 32}, "outside"),
    ],
)
def test_malformed_bundle_is_a_decode_error(
    bob: Device, changes: dict[str, object], complaint: str
) -> None:
    with pytest.raises(DecodeError, match=complaint):
        dataclasses.replace(bob.bundle(), **changes).verify()


def test_bundle_with_small_order_prekey_is_rejected(alice: Device) -> None:
    identity = IdentityKeyPair.generate()
    store_key = generate_kem_prekeys(identity, 1, 1)[0]
    zero = bytes(32)
    bundle = PreKeyBundle(
        identity=identity.public,
        signed_prekey_id=1,
        signed_prekey=zero,
        signed_prekey_signature=identity.sign(
            prekey_signature_message(PrekeyKind.SIGNED_EC, 1, zero)
        ),
        kem_prekey_id=1,
        kem_prekey=store_key.public,
        kem_prekey_signature=store_key.signature,
        kem_prekey_last_resort=False,
        one_time_prekey_id=None,
        one_time_prekey=None,
    )
    bundle.verify()
    with pytest.raises(DecodeError, match="signed prekey is not a usable X25519"):
        Session.initiate(alice.identity, bundle)
