"""Known answers for tree math: tree-math.json (root, left, right, parent, sibling)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sottovoce.mls import tree_math
from sottovoce.mls.errors import KatMismatch, MLSError

FILE = "tree-math.json"


def _answer(operation: Callable[[int], int], x: int) -> int | None:
    try:
        return operation(x)
    except MLSError:
        return None


def check(case: Mapping[str, Any]) -> None:
    n = int(case["n_leaves"])
    if tree_math.node_width(n) != case["n_nodes"]:
        raise KatMismatch(f"node width of {n} leaves")
    if tree_math.root(n) != case["root"]:
        raise KatMismatch(f"root of {n} leaves")
    operations: dict[str, Callable[[int], int]] = {
        "left": tree_math.left,
        "right": tree_math.right,
        "parent": lambda x: tree_math.parent(x, n),
        "sibling": lambda x: tree_math.sibling(x, n),
    }
    for name, operation in operations.items():
        for x, expected in enumerate(case[name]):
            if _answer(operation, x) != expected:
                raise KatMismatch(f"{name}({x}) in a tree of {n} leaves")
