"""Run the IETF MLS interoperability vectors: ``python -m sottovoce.mls.vectors DIR``.

Every ``sottovoce.mls.kat_*`` module names the vector file it checks (``FILE``)
and checks one case (``check``). Prints one JSON line per vector file:
``{"file": ..., "passed": N, "failed": N, "skipped": N}``; a file no module
checks yet counts all its cases as skipped. Exits non-zero unless every case
of every file passed.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import sottovoce.mls
from sottovoce.mls.errors import MLSError

Check = Callable[[Mapping[str, Any]], None]


def kat_modules() -> dict[str, ModuleType]:
    """Vector file name -> the module that checks it."""
    modules = {}
    for info in pkgutil.iter_modules(sottovoce.mls.__path__):
        if info.name.startswith("kat_"):
            module = importlib.import_module(f"sottovoce.mls.{info.name}")
            modules[str(module.FILE)] = module
    return modules


def load_cases(path: Path) -> list[Mapping[str, Any]]:
    cases = json.loads(path.read_text())
    if not isinstance(cases, list):
        raise ValueError(f"{path.name} is not a JSON array of cases")
    return cases


def run_file(path: Path, check: Check | None) -> dict[str, Any]:
    cases = load_cases(path)
    if check is None:
        return {"file": path.name, "passed": 0, "failed": 0, "skipped": len(cases)}
    passed = failed = 0
    for case in cases:
        try:
            check(case)
        except MLSError:
            failed += 1
        else:
            passed += 1
    return {"file": path.name, "passed": passed, "failed": failed, "skipped": 0}


def main(argv: list[str]) -> int:
    directory = Path(argv[1] if len(argv) > 1 else "../shared/mls-test-vectors")
    modules = kat_modules()
    ok = True
    for path in sorted(directory.glob("*.json")):
        module = modules.get(path.name)
        result = run_file(path, None if module is None else module.check)
        print(json.dumps(result))
        ok = ok and result["failed"] == 0 and result["skipped"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
