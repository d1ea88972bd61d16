"""A node loads only what its configuration uses (docs/performance.md, memory).

Each import stays in the process's memory for its life, so a node alone on SQLite
must never import redis-py, asyncpg or SQLAlchemy's PostgreSQL dialect, and no
node imports Alembic (its migrations run in a child process). Checked in a fresh
interpreter: the test process itself has imported all of them. ``sottovoce
server`` hands over to ``python -OO -m sottovoce.server`` (exec), so no node
carries the CLI and the client SDK either, nor any module's docstrings or
column tables (server/launch.py); nor SQLAlchemy's ORM, ``pydantic.v1``,
uvicorn's command line, prometheus_client's exposition servers,
``importlib.metadata``'s readers and FastAPI's built OpenAPI models
(server/node_imports.py), while a first use of any of them still loads it whole;
the modules no node reads are imported without running until first used. On
SQLite the node's pool holds at most two connections, each an aiosqlite thread
with its own copy of the schema (storage/repository.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import subprocess
import sys
import textwrap
import time
from email.header import Header
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from sottovoce.server import launch, node_imports
from sottovoce.server.app import create_app
from sottovoce.server.migration import MigrationFailed, upgrade_in_child
from sottovoce.server.process import STARTUP_TIMEOUT_S, ServerProcess, free_port
from sottovoce.server.settings import Settings, database_url
from sottovoce.storage.repository import Repository

# How long a node that compiles its whole module tree first may take to start.
COLD_START_TIMEOUT_S = 4 * STARTUP_TIMEOUT_S
# Packages a node on its own never needs, and which used to cost it ~18 MiB of RSS.
NEVER_ALONE = ("redis", "asyncpg", "sqlalchemy.dialects.postgresql", "alembic", "mako", "pygments")
# Parts of the libraries no node runs (server/node_imports.py): ~10 MiB more.
NEVER_IN_A_NODE = (
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio.session",
    "pydantic.v1",
    # uvicorn's command line and supervisors
    "uvicorn.main",
    "uvicorn.supervisors",
    "click",
    "multiprocessing",
    # prometheus_client's exposition and the servers it can run
    "prometheus_client.exposition",
    "prometheus_client.process_collector",
    "http.server",
    "wsgiref",
    "urllib.request",
    # importlib.metadata's readers of installed packages
    "importlib.metadata._adapters",
    "zipfile",
    # html's table of character references
    "html.entities",
)

START_A_NODE = textwrap.dedent(
    """
    import asyncio, json, sys, types
    from pathlib import Path
    from sottovoce.server.__main__ import main  # everything `python -m` imports
    from sottovoce.server import node_imports
    node_imports.keep_unused_library_parts_out()  # as its main() does, then
    from sottovoce.server import run  # what its main() imports once it runs
    from sottovoce.server.app import create_app
    from sottovoce.server.settings import Settings, database_url

    directory = Path(sys.argv[1])
    settings = Settings(
        db_url=database_url(str(directory / "node.db")),
        legal_dir=directory / "legal",
        blob_dir=directory / "blobs",
    )
    app = create_app(settings)

    async def start_and_stop() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(start_and_stop())
    from fastapi.openapi.models import OpenAPI
    if not OpenAPI.__pydantic_complete__:  # built on the first /openapi.json only
        print("openapi-models-deferred")
    if "__getattr__" in vars(sys.modules["importlib.metadata"]):  # a stand-in still
        print("importlib-metadata-unread")
    for name in node_imports.LAZY_MODULES:  # imported, its body not run (type() reads nothing)
        if type(sys.modules.get(name)) not in (types.ModuleType, type(None)):
            print("unread:" + name)
    print(json.dumps(sorted(name for name, module in sys.modules.items() if module)))
    """
)


def run_program(program: str, *args: str) -> str:
    """What ``program`` printed, run by a fresh interpreter (this one's)."""
    # Arguments are this interpreter, a fixed program and the test's own values.
    result = subprocess.run(
        [sys.executable, "-c", program, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def loaded_by_a_node(directory: Path) -> set[str]:
    """The modules a node started (and stopped) with, and the markers it printed."""
    *markers, modules = run_program(START_A_NODE, str(directory)).splitlines()
    return set(json.loads(modules)) | set(markers)


def wait_for_json(server: subprocess.Popen[bytes], url: str) -> Any:
    """The JSON ``url`` answers once the server started."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            return httpx.get(url, timeout=1).json()
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


def test_a_node_alone_on_sqlite_imports_no_redis_postgresql_or_alembic(tmp_path: Path) -> None:
    modules = loaded_by_a_node(tmp_path)
    # The node did start: its app, its storage and its fan-out are loaded.
    assert {"sottovoce.server.app", "sqlalchemy.dialects.sqlite.aiosqlite"} <= modules
    assert "sottovoce.fanout.inprocess" in modules
    loaded = sorted(m for m in modules if m.startswith(NEVER_ALONE))
    assert loaded == []


def test_a_node_loads_no_library_part_it_does_not_run(tmp_path: Path) -> None:
    modules = loaded_by_a_node(tmp_path)
    # What storage, the server and /metrics run on.
    assert {
        "sqlalchemy.ext.asyncio.engine",
        "uvicorn.server",
        "prometheus_client.metrics",
    } <= modules
    assert sorted(m for m in modules if m.startswith(NEVER_IN_A_NODE)) == []
    assert {"openapi-models-deferred", "importlib-metadata-unread"} <= modules
    # Imported by the libraries, loaded on first use only (node_imports.LAZY_MODULES).
    assert {f"unread:{name}" for name in node_imports.LAZY_MODULES} <= modules
    assert {"bz2", "csv", "email.header"} <= set(node_imports.LAZY_MODULES)


ASK_FOR_THE_ORM_SESSION = textwrap.dedent(
    """
    import json, sys
    from sottovoce.server import node_imports
    node_imports.keep_unused_library_parts_out()
    from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
    before = "sqlalchemy.orm" in sys.modules
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    import sqlalchemy.ext.asyncio as package
    from sqlalchemy.ext.asyncio import engine
    print(json.dumps({
        "before": before,
        "after": "sqlalchemy.orm" in sys.modules,
        "session": AsyncSession.__module__,
        "same_engine": package.AsyncEngine is AsyncEngine is engine.AsyncEngine,
        "create": create_async_engine is engine.create_async_engine,
        "maker": callable(async_sessionmaker),
    }))
    """
)


def test_the_first_use_of_the_orm_session_loads_it_whole() -> None:
    result = run_program(ASK_FOR_THE_ORM_SESSION)
    assert json.loads(result) == {
        "before": False,
        "after": True,
        "session": "sqlalchemy.ext.asyncio.session",
        "same_engine": True,
        "create": True,
        "maker": True,
    }


ASK_FOR_THE_REST = textwrap.dedent(
    """
    import json, sys
    from sottovoce.server import node_imports
    node_imports.keep_unused_library_parts_out()
    from importlib.metadata import version  # a stand-in, as Pydantic imports it
    import prometheus_client, uvicorn
    from prometheus_client import REGISTRY, Gauge
    before = sorted(m for m in ("uvicorn.main", "prometheus_client.exposition",
                                "importlib.metadata._adapters", "html.entities")
                    if m in sys.modules)
    import html
    Gauge("first_use_probe", "A gauge of this test's").set(7)
    page = prometheus_client.generate_latest(REGISTRY).decode()
    import importlib.metadata
    print(json.dumps({
        "before": before,
        "fastapi": version("fastapi") == importlib.metadata.distribution("fastapi").version,
        "real_version": importlib.metadata.version.__module__,
        "run": uvicorn.run.__module__,
        "click": "click" in sys.modules,
        "probe": "first_use_probe 7.0" in page,
        "process": "process_resident_memory_bytes" in page,
        "escaped": html.escape("<&>"),
    }))
    """
)


def test_the_first_use_of_a_kept_out_part_loads_its_package_whole() -> None:
    result = run_program(ASK_FOR_THE_REST)
    assert json.loads(result) == {
        "before": [],
        "fastapi": True,
        "real_version": "importlib.metadata",
        "run": "uvicorn.main",
        "click": True,
        "probe": True,
        # prometheus_client's default collectors, registered by its own __init__
        "process": True,
        "escaped": "&lt;&amp;&gt;",
    }


READ_THE_LAZY_MODULES = textwrap.dedent(
    """
    import json, sys, types
    from sottovoce.server import node_imports
    node_imports.keep_unused_library_parts_out()
    import shutil, csv, io  # shutil imports bz2 and lzma, as in a node
    from email import header
    lazy = lambda name: type(sys.modules[name]) is not types.ModuleType
    before = sorted(name for name in ("bz2", "lzma", "csv", "email.header") if lazy(name))
    out = io.StringIO()
    csv.writer(out).writerow(["a,b", 1])
    import lzma
    print(json.dumps({
        "before": before,
        "archives": [name for name, _ in shutil.get_archive_formats()],
        "csv": out.getvalue(),
        "lzma": lzma.decompress(lzma.compress(b"relay")).decode(),
        "header": header.Header("caf\u00e9", "utf-8").encode(),
        "after": sorted(name for name in ("lzma", "csv", "email.header") if lazy(name)),
    }))
    """
)


def test_a_module_no_node_reads_runs_on_its_first_use() -> None:
    result = run_program(READ_THE_LAZY_MODULES)
    written = io.StringIO()
    csv.writer(written).writerow(["a,b", 1])
    # What the same calls give with these modules loaded whole (this process).
    assert json.loads(result) == {
        "before": ["bz2", "csv", "email.header", "lzma"],
        # shutil still knows its bz2 and xz formats, without having read the modules
        "archives": [name for name, _ in shutil.get_archive_formats()],
        "csv": written.getvalue(),
        "lzma": "relay",
        "header": Header("caf\u00e9", "utf-8").encode(),
        "after": [],
    }


async def test_requests_beyond_the_sqlite_pool_wait_for_its_two_connections(
    tmp_path: Path,
) -> None:
    url = database_url(str(tmp_path / "pool.db"))
    await upgrade_in_child(url)
    repo = Repository.connect(url)
    opened: list[object] = []
    held = 0
    most_held = 0
    event.listen(repo.engine.sync_engine, "connect", lambda conn, _: opened.append(conn))

    async def read(device_pk: int) -> int:
        nonlocal held, most_held
        async with repo.engine.connect() as conn:
            held += 1
            most_held = max(most_held, held)
            await asyncio.sleep(0.02)  # the connection stays out while others ask
            rows = await conn.execute(text("SELECT :pk"), {"pk": device_pk})
            held -= 1
            return int(rows.scalar_one())

    try:
        # Ten at once, as ten devices' signed requests: each waits its turn.
        answers = await asyncio.gather(*(read(pk) for pk in range(10)))
        fetched = await asyncio.gather(*(repo.fetch(pk, 10) for pk in range(10)))
    finally:
        await repo.close()
    assert answers == list(range(10))
    assert fetched == [[]] * 10
    assert most_held == 2
    assert len(opened) == 2


async def test_the_child_process_brings_a_new_database_to_the_newest_schema(
    tmp_path: Path,
) -> None:
    url = database_url(str(tmp_path / "fresh.db"))
    await upgrade_in_child(url)
    repo = Repository.connect(url)
    try:
        async with repo.engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            tables = (
                await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
            ).scalars()
            names = set(tables)
    finally:
        await repo.close()
    assert version
    assert {"accounts", "devices", "queued_messages"} <= names
    await upgrade_in_child(url)  # every start runs it again: a no-op


async def test_a_migration_that_fails_stops_the_start_with_a_typed_error(tmp_path: Path) -> None:
    missing = tmp_path / "no such directory" / "node.db"
    with pytest.raises(MigrationFailed, match="exit status"):
        await upgrade_in_child(database_url(str(missing)))
    assert not missing.exists()


def test_the_server_command_becomes_the_server_module_with_its_options(tmp_path: Path) -> None:
    port = free_port()
    command = Path(sys.executable).parent / "sottovoce"
    options = ["--db", str(tmp_path / "node.db"), "--port", str(port), "--apps", "chat"]
    options += ["--epoch-seconds", "7.5", "--blob-dir", str(tmp_path / "blobs")]
    server = subprocess.Popen(
        [str(command), "server", *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        apps = wait_for_json(server, f"http://127.0.0.1:{port}/v1/apps")
        # The same process, now the server's entry point with the operator's options.
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert argv[:8] == [sys.executable, *launch.node_options(), "-m", "sottovoce.server"]
        assert argv[8:] == [
            "--db",
            str(tmp_path / "node.db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--apps",
            "chat",
            "--log-level",
            "info",
            "--epoch-seconds",
            "7.5",
            "--blob-dir",
            str(tmp_path / "blobs"),
        ]
        assert apps == {"apps": ["chat"]}
    finally:
        server.terminate()
        server.communicate(timeout=STARTUP_TIMEOUT_S)


def documented_operations(openapi: dict[str, Any]) -> list[str]:
    """Operations whose OpenAPI description FastAPI took from the endpoint's docstring."""
    paths = openapi["paths"].items()
    return [
        f"{verb} {path}"
        for path, verbs in paths
        for verb, op in verbs.items()
        if op.get("description")
    ]


def test_a_node_started_without_oo_runs_again_under_it_keeping_its_options(
    tmp_path: Path,
) -> None:
    # Unoptimized (this process), the relay's endpoints carry their docstrings.
    settings = Settings(
        db_url=database_url(str(tmp_path / "unused.db")),
        legal_dir=tmp_path / "legal",
        blob_dir=tmp_path / "unused-blobs",
    )
    assert documented_operations(create_app(settings).openapi())
    port = free_port()
    options = ["--db", str(tmp_path / "node.db"), "--port", str(port), "--apps", "chat"]
    # Arguments are this interpreter, a fixed module and values made here.
    server = subprocess.Popen(
        [sys.executable, "-X", "utf8", "-m", "sottovoce.server", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        openapi = wait_for_json(server, f"http://127.0.0.1:{port}/openapi.json")
        # The same process id, now under the node's options with the interpreter's others.
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        node = launch.node_options()
        assert argv == [sys.executable, *node, "-X", "utf8", "-m", "sottovoce.server", *options]
        assert openapi["paths"]["/v1/messages"]
        assert documented_operations(openapi) == []
    finally:
        server.terminate()
        server.communicate(timeout=STARTUP_TIMEOUT_S)


def test_a_node_keeps_its_compiled_modules_and_shows_all_figures_on_its_first_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment says not to write bytecode; the node's own tree is written anyway.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    (tmp_path / "node").mkdir()
    node = ServerProcess(tmp_path / "node")
    # A first start compiles every module it imports (and its migration child's): several
    # times a warm start's CPU, past the usual 30 s on a loaded 2-core machine.
    node.startup_timeout_s = COLD_START_TIMEOUT_S
    with node:
        page = httpx.get(node.url + "/metrics", timeout=10).text
    # The prefix tree mirrors each source's absolute directory (sys.pycache_prefix).
    source = Path(create_app.__code__.co_filename)
    compiled = launch.node_pycache().joinpath(*source.parent.parts[1:])
    assert [p.name for p in compiled.glob("app.*")] == [
        f"app.{sys.implementation.cache_tag}.opt-2.pyc"
    ]
    # The relay's own figures and prometheus_client's default ones, loaded on this scrape.
    assert "sottovoce_messages_accepted_total" in page
    assert "process_resident_memory_bytes" in page
