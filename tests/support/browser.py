"""Debian's headless Chromium through Playwright, for the tests of the pages.

The demo's launch flags (sottovoce.demo.chromium: the system browser, reaching
only loopback). A pytest plugin (tests/conftest.py): the ``browser`` fixture is
one Chromium per test; :func:`chromium` launches one with extra flags (a fake
camera).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from sottovoce.demo.chromium import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.async_api import Browser


needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium (tools/debian-packages.txt)"
)


@asynccontextmanager
async def chromium(*extra_args: str) -> AsyncIterator[Browser]:
    """A launched Chromium (``CHROMIUM_ARGS`` and ``extra_args``), closed at the end."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium for one test; each person's window is a ``new_context()`` of it."""
    async with chromium() as launched:
        yield launched
