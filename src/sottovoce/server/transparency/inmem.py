"""In-memory leaf and node stores: for tests and benchmarks, and the model a database store follows.

Both keep flat byte arrays instead of one Python object per item: a million
82-byte entries take about 90 MB here against about 123 MB as a list of
``bytes``, and the two million node hashes of a million-leaf tree take 64 MB.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from sottovoce.protocol.public.merkle import HASH_LEN


class InMemoryLeafStore:
    """Leaves concatenated in one bytearray, with the end offset of each."""

    __slots__ = ("_data", "_ends")

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("Q")

    def __len__(self) -> int:
        return len(self._ends)

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < len(self._ends):
            raise IndexError(f"no leaf {index} in a store of {len(self._ends)}")
        start = self._ends[index - 1] if index else 0
        return bytes(self._data[start : self._ends[index]])

    def extend(self, leaves: Sequence[bytes]) -> None:
        data, ends = self._data, self._ends
        for leaf in leaves:
            data += leaf
            ends.append(len(data))


class InMemoryNodeStore:
    """One bytearray of concatenated 32-byte hashes per level."""

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    def node_count(self, level: int) -> int:
        return len(self._levels[level]) // HASH_LEN if level < len(self._levels) else 0

    def node(self, level: int, index: int) -> bytes:
        if not 0 <= index < self.node_count(level):
            raise IndexError(f"no node {index} at level {level}")
        start = index * HASH_LEN
        return bytes(self._levels[level][start : start + HASH_LEN])

    def extend(self, level: int, hashes: bytes) -> None:
        if len(hashes) % HASH_LEN:
            raise ValueError(f"node hashes come in whole {HASH_LEN}-byte units")
        while len(self._levels) <= level:
            self._levels.append(bytearray())
        self._levels[level] += hashes
