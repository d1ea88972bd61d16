"""Randomness from the operating system's CSPRNG."""

import os


def random_bytes(length: int) -> bytes:
    """Return ``length`` bytes from the OS CSPRNG (``getrandom``)."""
    return os.urandom(length)
