"""The ASGI application: small routers composed over one shared state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sottovoce import __version__
from sottovoce.server import cluster, migration
from sottovoce.server.body_limit import BodyLimitMiddleware
from sottovoce.server.problems import (
    PROBLEM_RESPONSES,
    Problem,
    handle_http,
    handle_problem,
    handle_unexpected,
    handle_validation,
)
from sottovoce.server.retention import sweep_forever
from sottovoce.server.routes import (
    accounts,
    blobs,
    devices,
    groups,
    key_packages,
    keys,
    messages,
    moderation,
    reports,
    sealed,
    transparency,
    websocket,
)
from sottovoce.server.routes import legal as legal_routes
from sottovoce.server.routes import metrics as metrics_route
from sottovoce.server.settings import Settings
from sottovoce.server.state import ServerState
from sottovoce.server.transparency import directory as key_directory
from sottovoce.storage.repository import Repository
from sottovoce.storage.transparency import TransparencyStore


class Health(BaseModel):
    status: str


class Apps(BaseModel):
    apps: list[str]


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # In a child process, so that Alembic never occupies this node's memory.
        await migration.upgrade_in_child(settings.db_url)
        repo = Repository.connect(settings.db_url)
        app.state.sottovoce = ServerState(settings=settings, repo=repo)
        # Key transparency (issue 3): the log, loaded, with its epoch timer.
        directory = await key_directory.KeyDirectory.open(
            TransparencyStore(repo.engine), key_directory.configured_key(settings.transparency)
        )
        app.state.sottovoce.directory = directory
        epochs = asyncio.create_task(
            directory.publish_forever(settings.transparency.epoch_interval_s)
        )
        sweeper = asyncio.create_task(sweep_forever(repo, settings.retention, settings.blob_dir))
        # Lawful requests (issue 5): user notices whose non-disclosure period ended.
        notices = asyncio.create_task(legal_routes.deliver_notices_forever(app.state.sottovoce))
        try:
            async with cluster.joined(app.state.sottovoce):  # Redis, with many nodes
                yield
        finally:
            # Every background task must have finished before storage closes: one
            # cancelled mid-query would otherwise wait forever on a closed engine.
            background = (epochs, sweeper, notices)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await repo.close()

    app = FastAPI(
        title="Sottovoce relay",
        version=__version__,
        description="Stores and forwards end-to-end encrypted messages. It never decrypts.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    app.add_exception_handler(Problem, handle_problem)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(Exception, handle_unexpected)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/v1/apps", response_model=Apps)
    async def list_apps() -> Apps:
        return Apps(apps=list(settings.apps))

    routers = (accounts, keys, messages, websocket, devices, transparency, groups, key_packages)
    routers += (moderation,)
    routers += (sealed, reports)  # sealed sender and franking (docs/safety.md)
    routers += (metrics_route,)  # GET /metrics for Prometheus (docs/operations.md)
    routers += (legal_routes,)  # lawful requests and /transparency (docs/legal.md)
    routers += (blobs,)  # attachment ciphertext (docs/app.md)
    for module in routers:
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    return app
