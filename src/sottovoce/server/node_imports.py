"""Parts of the libraries that a node never runs, kept out of its memory.

Every module a process imports stays in its memory for the process's life
(docs/performance.md, memory). Two imports the libraries make on behalf of
features the relay does not use cost a node ~6.5 MiB of its idle RSS:

- The package ``sqlalchemy.ext.asyncio`` imports, beside the asyncio engine, its
  ORM session and with it all of ``sqlalchemy.orm`` (~40 modules, ~5 MiB). The
  storage layer runs SQLAlchemy Core on ``AsyncEngine`` and ``AsyncConnection``
  only. So the package is set up from its own files with just its engine and
  result modules; the first use of any other of its names (``AsyncSession``...)
  runs the package's own ``__init__`` then, which loads the ORM as before.
- FastAPI imports ``pydantic.v1`` (~23 modules, ~1.5 MiB) only to refuse the
  models of Pydantic 1, of which the relay has none; with ``pydantic.v1``
  marked absent, its checks take their "Pydantic 1 is not installed" branch.

Only the node's entry point (``python -m sottovoce.server``) calls
:func:`keep_unused_library_parts_out`, before the server stack is imported; a
process that already imported either package (a test process) keeps it whole.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any

ASYNCIO_PACKAGE = "sqlalchemy.ext.asyncio"
# The package's names from its engine and result modules, as its __init__ lists them.
ENGINE_NAMES = {
    "engine": (
        "AsyncConnection",
        "AsyncEngine",
        "AsyncTransaction",
        "async_engine_from_config",
        "create_async_engine",
        "create_async_pool_from_url",
    ),
    "result": ("AsyncMappingResult", "AsyncResult", "AsyncScalarResult", "AsyncTupleResult"),
}
PYDANTIC_V1 = "pydantic.v1"


def keep_unused_library_parts_out() -> None:
    """Set up ``sqlalchemy.ext.asyncio`` without its ORM half; mark ``pydantic.v1``
    absent. Called once, before anything imports SQLAlchemy's asyncio or FastAPI."""
    _engine_only_asyncio_package()
    if PYDANTIC_V1 not in sys.modules:
        # An entry of None makes ``import pydantic.v1`` raise ModuleNotFoundError
        # (the import system's own way to mark a module absent).
        sys.modules[PYDANTIC_V1] = None  # type: ignore[assignment]


def _engine_only_asyncio_package() -> None:
    if ASYNCIO_PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(ASYNCIO_PACKAGE)
    if spec is None or spec.loader is None:
        return  # not installed: the import that needs it says so
    package = importlib.util.module_from_spec(spec)
    sys.modules[ASYNCIO_PACKAGE] = package
    try:
        for module_name, names in ENGINE_NAMES.items():
            module = importlib.import_module(f"{ASYNCIO_PACKAGE}.{module_name}")
            package.__dict__.update((name, getattr(module, name)) for name in names)
    except BaseException:
        del sys.modules[ASYNCIO_PACKAGE]
        raise
    package.__getattr__ = _completing(package, spec.loader)  # type: ignore[method-assign]


def _completing(package: types.ModuleType, loader: importlib.abc.Loader) -> Callable[[str], Any]:
    """The package's ``__getattr__`` (PEP 562): a name it does not have yet runs
    its real ``__init__`` (which finds the engine modules already loaded)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        del package.__getattr__
        loader.exec_module(package)
        return getattr(package, name)

    return __getattr__
