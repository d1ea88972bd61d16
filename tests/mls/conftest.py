"""Per-file pass counts of the official MLS vectors, printed at the end of the run.

Every vector case is its own test (tests/mls/test_vectors.py); this plugin tallies
their outcomes by file and prints one JSON line per file, as ``make mls-vectors``
does, so a run shows at a glance which files pass in full.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

_CASE = re.compile(r"test_vectors\.py::test_vector_case\[(?P<file>[^\[\]]+)\[\d+\]\]$")
_COUNTS: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    match = _CASE.search(report.nodeid)
    if match is None:
        return
    # A case's outcome is its call's, or its setup's when setup did not pass.
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _COUNTS[match["file"]][report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _COUNTS:
        return
    terminalreporter.section("MLS test vectors, per file")
    for name in sorted(_COUNTS):
        terminalreporter.write_line(json.dumps({"file": name, **_COUNTS[name]}))
