"""Array-based binary tree arithmetic (RFC 9420 §4.1, Appendix C).

Nodes of a tree with ``n`` leaves are numbered left to right, ``0 .. 2n-2``;
leaves sit at even indices and parents at odd ones, and a node's level is the
number of trailing one bits of its index. MLS trees are always complete: ``n``
is a power of two (§7.7 truncation and extension keep it so).
"""

from __future__ import annotations

from sottovoce.mls.errors import ValidationError

# A leaf index is a uint32 on the wire (RFC 9420 §7.1 LeafIndex).
MAX_LEAVES = 1 << 31


def _check_leaves(n_leaves: int) -> None:
    if n_leaves < 1 or n_leaves > MAX_LEAVES or n_leaves & (n_leaves - 1):
        raise ValidationError(
            f"RFC 9420 §4.1: a tree has a power-of-two number of leaves, not {n_leaves}"
        )


def level(x: int) -> int:
    """The number of trailing one bits: 0 for leaves."""
    if x & 1 == 0:
        return 0
    k = 0
    while (x >> k) & 1:
        k += 1
    return k


def node_width(n_leaves: int) -> int:
    return 0 if n_leaves == 0 else 2 * (n_leaves - 1) + 1


def root(n_leaves: int) -> int:
    _check_leaves(n_leaves)
    return (1 << (node_width(n_leaves).bit_length() - 1)) - 1


def left(x: int) -> int:
    k = level(x)
    if k == 0:
        raise ValidationError(f"RFC 9420 Appendix C: leaf node {x} has no left child")
    return x ^ (1 << (k - 1))


def right(x: int) -> int:
    k = level(x)
    if k == 0:
        raise ValidationError(f"RFC 9420 Appendix C: leaf node {x} has no right child")
    return x ^ (3 << (k - 1))


def parent(x: int, n_leaves: int) -> int:
    if x == root(n_leaves):
        raise ValidationError(f"RFC 9420 Appendix C: root node {x} has no parent")
    if x >= node_width(n_leaves):
        raise ValidationError(f"node {x} is outside a tree of {n_leaves} leaves")
    k = level(x)
    b = (x >> (k + 1)) & 1
    return (x | (1 << k)) ^ (b << (k + 1))


def sibling(x: int, n_leaves: int) -> int:
    p = parent(x, n_leaves)
    return right(p) if x < p else left(p)


def direct_path(x: int, n_leaves: int) -> list[int]:
    """Parents from ``x`` (exclusive) up to the root (inclusive), §4.1."""
    path: list[int] = []
    r = root(n_leaves)
    while x != r:
        x = parent(x, n_leaves)
        path.append(x)
    return path


def copath(x: int, n_leaves: int) -> list[int]:
    """The siblings of ``x`` and of each node on its direct path but the root, §4.1."""
    r = root(n_leaves)
    if x == r:
        return []
    nodes = [x, *direct_path(x, n_leaves)[:-1]]
    return [sibling(y, n_leaves) for y in nodes]


def leaf_to_node(leaf_index: int) -> int:
    return 2 * leaf_index


def node_to_leaf(node_index: int) -> int:
    if node_index & 1:
        raise ValidationError(f"node {node_index} is a parent, not a leaf")
    return node_index // 2
