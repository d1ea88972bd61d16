"""Secret tree ratchets: out-of-order delivery, reuse, window limits (RFC 9420 §9)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import GenerationUnavailable, ValidationError
from sottovoce.mls.secret_tree import (
    MAX_FORWARD_DISTANCE,
    OUT_OF_ORDER_TOLERANCE,
    RatchetKind,
    SecretTree,
)

SUITE = cipher_suite(1)
SECRET = bytes(range(32))
HANDSHAKE, APPLICATION = RatchetKind.HANDSHAKE, RatchetKind.APPLICATION


def tree(leaves: int = 8) -> SecretTree:
    return SecretTree(SUITE, SECRET, leaves)


def test_sender_and_receiver_agree_and_keys_never_repeat() -> None:
    sender, receiver = tree(), tree()
    seen = set()
    for generation in range(5):
        sent = sender.next_key(3, APPLICATION)
        assert sent.generation == generation
        got = receiver.key_for(3, APPLICATION, generation)
        assert (got.key, got.nonce) == (sent.key, sent.nonce)
        seen.add((sent.key, sent.nonce))
    for leaf in range(8):
        for kind in RatchetKind:
            key = receiver.key_for(leaf, kind, 5)
            seen.add((key.key, key.nonce))
    assert len(seen) == 5 + 16


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(OUT_OF_ORDER_TOLERANCE)))
def test_any_order_within_the_window_yields_the_in_order_keys(order: list[int]) -> None:
    in_order = tree()
    expected = [in_order.next_key(0, HANDSHAKE) for _ in order]
    shuffled = tree()
    for generation in order:
        assert shuffled.key_for(0, HANDSHAKE, generation) == expected[generation]


def test_a_used_generation_is_refused() -> None:
    receiver = tree()
    receiver.key_for(1, APPLICATION, 0)
    receiver.key_for(1, APPLICATION, 4)
    receiver.key_for(1, APPLICATION, 2)
    for generation in (0, 2, 4):
        with pytest.raises(GenerationUnavailable, match=f"generation {generation} was already"):
            receiver.key_for(1, APPLICATION, generation)
    # The handshake ratchet of the same leaf is independent.
    receiver.key_for(1, HANDSHAKE, 0)


def test_own_sent_generation_cannot_be_derived_again() -> None:
    own = tree()
    own.next_key(2, HANDSHAKE)
    with pytest.raises(GenerationUnavailable):
        own.key_for(2, HANDSHAKE, 0)


def test_keys_older_than_the_window_are_evicted() -> None:
    receiver = tree()
    newest = OUT_OF_ORDER_TOLERANCE + 10
    receiver.key_for(0, APPLICATION, newest)
    kept = newest - OUT_OF_ORDER_TOLERANCE
    receiver.key_for(0, APPLICATION, kept)
    with pytest.raises(GenerationUnavailable, match="older than the 32-key window"):
        receiver.key_for(0, APPLICATION, kept - 1)


def test_window_keeps_only_generations_near_the_newest_after_several_jumps() -> None:
    receiver = tree()
    for newest in (20, 45, 70):
        receiver.key_for(0, APPLICATION, newest)
    usable = [g for g in range(70) if _usable(receiver, g)]
    assert usable == [g for g in range(70 - OUT_OF_ORDER_TOLERANCE, 70) if g != 45]


def _usable(receiver: SecretTree, generation: int) -> bool:
    try:
        receiver.key_for(0, APPLICATION, generation)
    except GenerationUnavailable:
        return False
    return True


def test_jump_beyond_the_forward_distance_is_refused_then_nearby_still_works() -> None:
    receiver = tree()
    with pytest.raises(GenerationUnavailable, match=f"more than {MAX_FORWARD_DISTANCE} ahead"):
        receiver.key_for(0, APPLICATION, MAX_FORWARD_DISTANCE + 1)
    far = receiver.key_for(0, APPLICATION, MAX_FORWARD_DISTANCE)
    assert far == tree().key_for(0, APPLICATION, MAX_FORWARD_DISTANCE)


def test_leaf_outside_the_tree_is_rejected() -> None:
    with pytest.raises(ValidationError, match="leaf 8 is outside a tree of 8 leaves"):
        tree().next_key(8, HANDSHAKE)
    with pytest.raises(ValidationError):
        tree().next_key(-1, HANDSHAKE)


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_encryption_secret_must_be_nh_bytes(bad: bytes) -> None:
    with pytest.raises(ValidationError, match="encryption_secret must be 32 bytes"):
        SecretTree(SUITE, bad, 4)


def test_leaf_count_must_be_a_power_of_two() -> None:
    with pytest.raises(ValidationError, match="power-of-two"):
        SecretTree(SUITE, SECRET, 6)


def test_different_leaves_and_epochs_never_share_keys() -> None:
    first, second = tree(), SecretTree(SUITE, bytes(32), 8)
    keys = {first.key_for(leaf, APPLICATION, 0).key for leaf in range(8)}
    keys |= {second.key_for(leaf, APPLICATION, 0).key for leaf in range(8)}
    assert len(keys) == 16


def test_reprs_show_no_key_material() -> None:
    key = tree().next_key(0, APPLICATION)
    assert repr(key) == "RatchetKey(generation=0)"
    assert key.key.hex() not in repr(key)
    assert repr(tree()) == f"SecretTree({SUITE.name}, leaves=8)"


def test_peek_leaves_the_key_until_it_is_consumed() -> None:
    receiver = tree()
    ratchet = receiver.ratchet(4, APPLICATION)
    first = ratchet.peek(3)
    assert ratchet.peek(3) == first
    ratchet.consume(3)
    with pytest.raises(GenerationUnavailable):
        ratchet.peek(3)
    assert ratchet.peek(1) == tree().key_for(4, APPLICATION, 1)
