"""Every case of every vector file that an engine module checks, as its own test."""

from __future__ import annotations

from pathlib import Path

import pytest

from sottovoce.mls.vectors import kat_modules, load_cases

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "mls-test-vectors"

CASES = [
    pytest.param(name, index, id=f"{name}[{index}]")
    for name in sorted(kat_modules())
    for index in range(len(load_cases(VECTORS / name)))
]


@pytest.mark.parametrize(("name", "index"), CASES)
def test_vector_case(name: str, index: int) -> None:
    kat_modules()[name].check(load_cases(VECTORS / name)[index])


def test_every_kat_module_names_a_shipped_vector_file() -> None:
    assert {
        "tree-math.json",
        "deserialization.json",
        "messages.json",
        "tree-validation.json",
        "tree-operations.json",
        "treekem.json",
    } <= set(kat_modules())
    for name in kat_modules():
        assert (VECTORS / name).is_file(), name
