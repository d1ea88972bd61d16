"""The CLI installs a log handler per invocation; tests run many in one process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sottovoce.cli.render import StderrLog


@pytest.fixture(autouse=True)
def restore_sdk_logging() -> Iterator[None]:
    """Leave the ``sottovoce`` logger as the test found it, for the tests that follow
    in this worker (some assert on the SDK's warnings through caplog)."""
    logger = logging.getLogger("sottovoce")
    level = logger.level
    yield
    for handler in [h for h in logger.handlers if isinstance(h, StderrLog)]:
        logger.removeHandler(handler)
    logger.setLevel(level)
