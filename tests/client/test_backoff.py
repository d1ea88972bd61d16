"""Reconnection delays: doubling, capped, jittered, and reset once healthy."""

from __future__ import annotations

from sottovoce.client.backoff import INITIAL_DELAY_S, MAX_DELAY_S, Backoff


def test_delays_double_up_to_the_cap_within_their_jitter_band() -> None:
    low, high = Backoff(uniform=lambda: 0.0), Backoff(uniform=lambda: 1.0)
    ceilings = [min(MAX_DELAY_S, INITIAL_DELAY_S * 2**n) for n in range(12)]
    assert [low.next_delay() for _ in ceilings] == [c / 2 for c in ceilings]
    assert [high.next_delay() for _ in ceilings] == ceilings
    assert ceilings[-1] == MAX_DELAY_S


def test_many_failures_stay_at_the_cap() -> None:
    backoff = Backoff(uniform=lambda: 1.0)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == MAX_DELAY_S


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(uniform=lambda: 1.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == INITIAL_DELAY_S


def test_jitter_spreads_clients_apart() -> None:
    values = iter([0.1, 0.9])
    backoff_a, backoff_b = Backoff(uniform=lambda: next(values)), Backoff(uniform=lambda: 0.5)
    assert backoff_a.next_delay() != backoff_b.next_delay()
