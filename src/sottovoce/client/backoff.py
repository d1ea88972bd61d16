"""Waiting between reconnection and retry attempts: exponential, capped, jittered.

Doubling spreads retries out while a server is down; the cap keeps a device
that was offline for a while from waiting long once the server is back; the
jitter ("equal jitter": half fixed, half random) keeps thousands of devices
that lost the same server from reconnecting in lock-step.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# First wait: long enough not to hammer a restarting server, short enough that a
# blip is invisible to the person.
INITIAL_DELAY_S = 0.5
# Longest wait: a device comes back within half a minute of the server.
MAX_DELAY_S = 30.0


class Backoff:
    def __init__(
        self,
        initial_s: float = INITIAL_DELAY_S,
        max_s: float = MAX_DELAY_S,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        self._initial = initial_s
        self._max = max_s
        self._uniform = uniform
        self._attempt = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; each call doubles the ceiling."""
        ceiling = min(self._max, self._initial * 2.0**self._attempt)
        if ceiling < self._max:
            self._attempt += 1
        return ceiling / 2 + self._uniform() * ceiling / 2

    def reset(self) -> None:
        """The connection proved healthy: the next failure starts from the first delay."""
        self._attempt = 0
