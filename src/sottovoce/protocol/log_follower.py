"""Following the whole transparency log with logarithmic state: a compact range.

A monitor that reads every entry can check a new head without any proof: it
keeps the roots of the complete subtrees covering the entries it has read (one
per set bit of the size, the same merge order as ``merkle.root_from_leaf_hashes``),
extends them with the new entries and compares the resulting root (RFC 9162
§2.1.1) with the head's. A head that does not match is a log that rewrote or
forked what this monitor already read. The state serializes to bytes so that a
device resumes where it stopped:

    u64 size | count x 32-byte subtree roots, largest first
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.public.merkle import EMPTY_ROOT, HASH_LEN, leaf_hash, node_hash


class LogFollower:
    __slots__ = ("_roots", "_size")

    def __init__(self, size: int = 0, roots: tuple[bytes, ...] = ()) -> None:
        if len(roots) != bin(size).count("1"):
            raise DecodeError(f"a log of {size} entries has {bin(size).count('1')} subtree roots")
        self._size = size
        self._roots = list(roots)

    @property
    def size(self) -> int:
        return self._size

    def extend(self, entries: Iterable[bytes]) -> None:
        """Append log entries (their encoded bytes), in order."""
        for entry in entries:
            current = leaf_hash(entry)
            width = 1
            # Merge while the newest subtree has this width: the set bits of the size.
            while self._size & width:
                current = node_hash(self._roots.pop(), current)
                width <<= 1
            self._roots.append(current)
            self._size += 1

    def root(self) -> bytes:
        if not self._roots:
            return EMPTY_ROOT
        root = self._roots[-1]
        for left in reversed(self._roots[:-1]):
            root = node_hash(left, root)
        return root

    def to_bytes(self) -> bytes:
        return struct.pack(">Q", self._size) + b"".join(self._roots)

    @classmethod
    def from_bytes(cls, data: bytes) -> LogFollower:
        if len(data) < 8 or (len(data) - 8) % HASH_LEN:
            raise DecodeError("log follower state is malformed")
        (size,) = struct.unpack_from(">Q", data)
        roots = tuple(data[i : i + HASH_LEN] for i in range(8, len(data), HASH_LEN))
        return cls(size, roots)
