"""Parts of the libraries that a node never runs, kept out of its memory.

Every module a process imports stays in its memory for the process's life
(docs/performance.md, memory). Some imports the libraries make on behalf of
features the relay does not use cost a node ~10 MiB of its idle RSS:

- A package whose ``__init__`` imports far more than the node uses is set up
  from its own files with just the modules the node needs
  (:data:`PARTIAL_PACKAGES`); the first use of any other of its names runs the
  package's own ``__init__`` then, which loads the rest as before:

  - ``sqlalchemy.ext.asyncio`` imports, beside the asyncio engine, its ORM
    session and with it all of ``sqlalchemy.orm`` (~40 modules, ~5 MiB). The
    storage layer runs SQLAlchemy Core on ``AsyncEngine`` and ``AsyncConnection``
    only.
  - ``uvicorn`` imports its command line (click) and its reloading and
    multi-process supervisors (``multiprocessing``): ~1.2 MiB. The node runs
    one ``Config`` and one ``Server`` (server/run.py).
  - ``prometheus_client`` imports its exposition, with the HTTP, WSGI and
    push-gateway servers it can run (``http.server``, ``wsgiref``,
    ``urllib.request``), and its default process, platform and GC collectors:
    ~0.7 MiB. ``GET /metrics`` (routes/metrics.py) asks the package for
    ``generate_latest`` on its first scrape, which loads them all, so every
    scrape shows what it always showed.

- ``importlib.metadata`` (with ``zipfile`` and ``importlib.resources``: ~0.6
  MiB; a partial package of no modules) reads installed packages' metadata;
  SQLAlchemy, Pydantic and the websockets library import it, but a node only
  calls it if a library looks for plugins. Its two functions they import by
  name (:data:`FORWARDED`) are stand-ins that load the module when first
  called. Pydantic would look for its plugins on every model it builds: the
  node runs none (``PYDANTIC_DISABLE_PLUGINS``, unless the operator set it).
- ``html`` builds its table of 2,231 named character references (~0.2 MiB)
  when imported (a partial package of no modules); Starlette's debug error
  page and the legal desk's rendered packages escape text with it. It is
  loaded on the first such use.
- FastAPI builds the ~35 Pydantic models of an OpenAPI document when it is
  imported (``fastapi.openapi.models``: a validator and a serializer each,
  ~1.25 MiB), which only ``/openapi.json`` uses. It is imported with Pydantic's
  ``defer_build`` as the default configuration, so those models are built when
  first used, on the first ``/openapi.json`` request. The relay's own models are
  built as before, when their modules are imported.
- FastAPI imports ``pydantic.v1`` (~23 modules, ~1.5 MiB) only to refuse the
  models of Pydantic 1, of which the relay has none; with ``pydantic.v1``
  marked absent, its checks take their "Pydantic 1 is not installed" branch.
- Modules the libraries import but whose names a node never reads
  (:data:`LAZY_MODULES`, ~0.7 MiB: ``shutil`` imports ``bz2`` and ``lzma``
  only to know whether its archive formats are there, ``email.charset`` the
  MIME encoders of headers the relay never writes, the legal desk ``csv`` for
  its reports) are found with their loader wrapped in the standard library's
  ``importlib.util.LazyLoader``: each one's body runs when one of its names is
  first read, by the first request that needs it.

Only the node's entry point (``python -m sottovoce.server``) calls
:func:`keep_unused_library_parts_out`, before the server stack is imported; a
process that already imported a package (a test process) keeps it whole.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from typing import Any

# Package -> {its module -> the package's names that module provides}, as the
# package's __init__ lists them.
PARTIAL_PACKAGES: dict[str, dict[str, tuple[str, ...]]] = {
    # First: SQLAlchemy's and Pydantic's imports find it set up.
    "importlib.metadata": {},
    # Its entity tables; Starlette's debug page and the legal desk's HTML escape text.
    "html": {},
    "sqlalchemy.ext.asyncio": {
        "engine": (
            "AsyncConnection",
            "AsyncEngine",
            "AsyncTransaction",
            "async_engine_from_config",
            "create_async_engine",
            "create_async_pool_from_url",
        ),
        "result": ("AsyncMappingResult", "AsyncResult", "AsyncScalarResult", "AsyncTupleResult"),
    },
    "uvicorn": {"config": ("Config",), "server": ("Server",)},
    "prometheus_client": {
        "registry": ("REGISTRY", "CollectorRegistry"),
        "metrics": ("Counter", "Enum", "Gauge", "Histogram", "Info", "Summary"),
        "metrics_core": ("Metric",),
    },
}
# Modules whose names no node reads, loaded on their first use (module docstring).
# Python 3.11's LazyLoader takes no lock: each of these is first read, if ever,
# on the event loop's thread (the node's other threads run SQLite statements).
LAZY_MODULES = (
    # shutil: "import bz2; del bz2" and the same for lzma, to know its archive formats.
    "bz2",
    "lzma",
    # email.utils (the Date headers of uvicorn, Starlette and websockets) and
    # http.client (Starlette's status phrases) import these: MIME-encoded
    # headers, mail parsing and its errors, RFC 2822 dates to timestamps
    # (calendar.timegm).
    "email.base64mime",
    "email.quoprimime",
    "email.header",
    "email.parser",
    "email.errors",
    "calendar",
    # The legal desk's CSV reports (server/legal/report.py).
    "csv",
)
# Package -> its functions that libraries import by name (``from importlib.metadata
# import version``) when they are imported: stand-ins that load the package when called.
FORWARDED = {"importlib.metadata": ("entry_points", "version")}
# Pydantic's switch for its plugins, which it looks for through importlib.metadata.
PYDANTIC_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"
PYDANTIC_V1 = "pydantic.v1"
FASTAPI = "fastapi"


def keep_unused_library_parts_out() -> None:
    """Set up the :data:`LAZY_MODULES`, and the :data:`PARTIAL_PACKAGES` from their
    modules; import FastAPI with model builds deferred; mark ``pydantic.v1``
    absent. Called once, before anything imports these packages."""
    os.environ.setdefault(PYDANTIC_PLUGINS, "__all__")
    if not any(isinstance(finder, _LazyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LazyFinder())
    for package, modules in PARTIAL_PACKAGES.items():
        _partial_package(package, modules)
    if PYDANTIC_V1 not in sys.modules:
        # An entry of None makes ``import pydantic.v1`` raise ModuleNotFoundError
        # (the import system's own way to mark a module absent).
        sys.modules[PYDANTIC_V1] = None  # type: ignore[assignment]
    _import_with_model_builds_deferred(FASTAPI)


class _LazyFinder:
    """Finds each of the :data:`LAZY_MODULES` where the import system would, with
    its loader wrapped in ``importlib.util.LazyLoader``: the module its first
    import makes runs its body when one of its attributes is first read. A
    second ``import`` of it reads one (``__spec__``), so the list holds modules
    that one module of the node imports, and no other. (A plain meta path finder:
    ``importlib.abc`` would import ``importlib.resources``, and with it
    ``tempfile``, ``shutil``, ``bz2`` and ``lzma``.)"""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname not in LAZY_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def _partial_package(name: str, modules: dict[str, tuple[str, ...]]) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return  # not installed: the import that needs it says so
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    try:
        for module_name, names in modules.items():
            module = importlib.import_module(f"{name}.{module_name}")
            package.__dict__.update((n, getattr(module, n)) for n in names)
    except BaseException:
        del sys.modules[name]
        raise
    complete = _completion(package, spec)
    package.__getattr__ = lambda attribute: complete(attribute)  # type: ignore[method-assign]
    for function in FORWARDED.get(name, ()):
        setattr(package, function, _forwarding(package, function, complete))
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)


def _completion(package: types.ModuleType, spec: ModuleSpec) -> Callable[[str], Any]:
    """What the package's ``__getattr__`` (PEP 562) does with a name it does not
    have: run its real ``__init__`` (which finds the modules already loaded) once,
    then answer from what that defined."""

    def complete(attribute: str) -> Any:
        if attribute.startswith("__") and attribute != "__all__":
            raise AttributeError(attribute)
        if "__getattr__" in package.__dict__:
            del package.__getattr__
            assert spec.loader is not None  # checked when the package was set up
            spec.loader.exec_module(package)
        return getattr(package, attribute)

    return complete


def _forwarding(
    package: types.ModuleType, function: str, complete: Callable[[str], Any]
) -> Callable[..., Any]:
    """A stand-in for one of the package's functions, kept by whoever imported it
    by name: each call completes the package, then calls its real function."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        return complete(function)(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = function
    return forward


def _import_with_model_builds_deferred(name: str) -> None:
    """Import ``name`` while every Pydantic model it defines defers its build to
    its first use (Pydantic's ``defer_build``, set on ``BaseModel`` for the
    import's duration: each model merges its bases' configuration into its own)."""
    if name in sys.modules:
        return
    from pydantic import BaseModel, ConfigDict

    configured = BaseModel.model_config
    BaseModel.model_config = ConfigDict(**configured, defer_build=True)
    try:
        importlib.import_module(name)
    finally:
        BaseModel.model_config = configured
