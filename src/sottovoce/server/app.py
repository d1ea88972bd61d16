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
from sottovoce.server.routes import accounts, keys, messages, websocket
from sottovoce.server.settings import Settings
from sottovoce.server.state import ServerState
from sottovoce.storage.repository import Repository


class Health(BaseModel):
    status: str


class Apps(BaseModel):
    apps: list[str]


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        repo = Repository.connect(settings.db_url)
        await repo.migrate()
        app.state.sottovoce = ServerState(settings=settings, repo=repo)
        sweeper = asyncio.create_task(sweep_forever(repo, settings.retention))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
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

    for module in (accounts, keys, messages, websocket):
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    return app
