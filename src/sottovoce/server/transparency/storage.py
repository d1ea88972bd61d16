"""Where the transparency tree keeps its leaves and node hashes: interfaces only.

The tree never knows whether state lives in memory or in a database (the split
libsignal makes between ``storage/traits.rs`` and ``storage/inmem.rs``). Both
stores are append-only, which is what makes the log auditable: nothing written
is ever rewritten.

Leaves are the source of truth. Nodes are derived from them: the node at
``(level, index)`` is the Merkle Tree Hash (RFC 9162 §2.1.1) of the complete
subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``, so a tree
of ``n`` leaves has exactly ``n >> level`` nodes at each level (``2n - popcount(n)``
in all). The tree writes leaves before nodes and, when opened, rebuilds nodes a
crash left missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class LeafStore(Protocol):
    """The log's entries, in order."""

    def __len__(self) -> int:
        """How many leaves are stored."""
        ...

    def leaf(self, index: int) -> bytes:
        """Leaf ``index`` as appended; ``IndexError`` if there is none."""
        ...

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append ``leaves`` after the last stored leaf, all or none."""
        ...


class NodeStore(Protocol):
    """Hashes of complete subtrees, one append-only array per level."""

    def node_count(self, level: int) -> int:
        """How many nodes level ``level`` holds (0 for a level never written)."""
        ...

    def node(self, level: int, index: int) -> bytes:
        """The 32-byte hash at ``(level, index)``; ``IndexError`` if there is none."""
        ...

    def extend(self, level: int, hashes: bytes) -> None:
        """Append concatenated 32-byte ``hashes`` to level ``level``, all or none."""
        ...
