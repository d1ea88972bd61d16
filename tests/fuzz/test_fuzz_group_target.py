"""The group-processing atheris target, run on seeds and random bytes in the suite."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from .fuzz_mls_group import SEEDS, one_input


def test_every_seed_is_accepted_and_undone() -> None:
    for seed in SEEDS:
        one_input(seed)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.integers(min_value=0), st.integers(1, 255))
def test_damaged_seeds_are_refused(seed: bytes, position: int, value: int) -> None:
    index = position % len(seed)
    one_input(seed[:index] + bytes([seed[index] ^ value]) + seed[index + 1 :])
    one_input(seed[:index])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused(data: bytes) -> None:
    one_input(data)
