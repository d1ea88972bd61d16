"""The compact range a monitoring device keeps (``protocol.log_follower``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.log_follower import LogFollower
from sottovoce.protocol.public.merkle import EMPTY_ROOT, leaf_hash, root_from_leaf_hashes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70), st.integers(min_value=0, max_value=70))
def test_following_in_pieces_gives_the_rfc_9162_root(leaves: list[bytes], cut: int) -> None:
    cut = min(cut, len(leaves))
    follower = LogFollower()
    follower.extend(leaves[:cut])
    resumed = LogFollower.from_bytes(follower.to_bytes())
    resumed.extend(leaves[cut:])
    assert resumed.size == len(leaves)
    assert resumed.root() == root_from_leaf_hashes([leaf_hash(x) for x in leaves])


def test_an_empty_log_has_the_empty_root() -> None:
    assert LogFollower().root() == EMPTY_ROOT


def test_a_rewritten_entry_changes_the_root() -> None:
    honest, forked = LogFollower(), LogFollower()
    honest.extend([b"a", b"b", b"c"])
    forked.extend([b"a", b"X", b"c"])
    assert honest.root() != forked.root()


@pytest.mark.parametrize("data", [b"", b"\x00" * 7, b"\x00" * 8 + b"\x01" * 32, b"\x00" * 9])
def test_malformed_state_is_refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        LogFollower.from_bytes(data)
