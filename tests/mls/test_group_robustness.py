"""Hostile bytes at the group engine: anything other than a well-formed, authentic
message of the current epoch raises a typed MLSError and changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.crypto import signing
from sottovoce.mls.errors import DecodeError, MLSError
from sottovoce.mls.group import Group, GroupConfig, KeyPackageBundle

from .group_support import build, identity

NETWORK = build(3, config=GroupConfig(handshake_private=False))
RECEIVER = NETWORK.members[2]
SAMPLES = [
    NETWORK.members[0].protect(b"an application message"),
    NETWORK.members[1].propose_remove(0),
]
SAMPLES.append(NETWORK.members[0].commit().commit)  # by reference: the Remove above
NETWORK.members[0].discard_pending_commit()
STATE = RECEIVER.to_bytes()


def _summary(group: Group) -> tuple[object, ...]:
    """What a rejected message must leave as it was. (The secret tree may have derived,
    not used, the key of a generation a damaged PrivateMessage named: §9.2 keeps it
    for the genuine message.)"""
    return (
        group.epoch,
        group.epoch_authenticator,
        [p.ref for p in group.pending_proposals()],
        group.members(),
        group.has_pending_commit,
    )


SUMMARY = _summary(RECEIVER)


def _rejected_without_change(data: bytes) -> None:
    try:
        RECEIVER.process(data)
    except MLSError:
        assert _summary(RECEIVER) == SUMMARY
    else:  # only an untouched valid sample may be accepted; then restore the state
        assert data in SAMPLES
        restore()


def restore() -> None:
    global RECEIVER
    RECEIVER = Group.from_bytes(STATE)
    NETWORK.members[2] = RECEIVER


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    _rejected_without_change(data)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(SAMPLES))),
    st.integers(min_value=0),
    st.integers(min_value=1, max_value=255),
    st.sampled_from(["flip", "truncate", "extend"]),
)
def test_damaged_valid_messages(which: int, position: int, value: int, how: str) -> None:
    sample = SAMPLES[which]
    index = position % len(sample)
    if how == "flip":
        data = sample[:index] + bytes([sample[index] ^ value]) + sample[index + 1 :]
    elif how == "truncate":
        data = sample[:index]
    else:
        data = sample + bytes([value])
    _rejected_without_change(data)


def test_valid_samples_still_open_after_the_fuzzing() -> None:
    for sample in SAMPLES:
        RECEIVER.process(sample)
    restore()


def test_key_package_bundle_round_trip_and_last_resort() -> None:
    bundle = KeyPackageBundle.create(
        1, identity(5), signing.SigningKey.generate(), last_resort=True
    )
    assert bundle.last_resort
    again = KeyPackageBundle.from_bytes(bundle.to_bytes())
    assert again.ref == bundle.ref and again.last_resort
    assert "secret" not in repr(again) and bundle.to_bytes().hex() not in repr(again)
    other = KeyPackageBundle.create(1, identity(6), signing.SigningKey.generate())
    assert not other.last_resort
    mixed = bundle.to_bytes()[: len(bundle.to_bytes()) - 33] + other.to_bytes()[-33:]
    with pytest.raises(DecodeError):
        KeyPackageBundle.from_bytes(mixed)
