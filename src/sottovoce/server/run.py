"""Running the server under uvicorn, with logs that never carry content."""

from __future__ import annotations

import logging

import uvicorn

from sottovoce.server.app import create_app
from sottovoce.server.settings import Settings


def serve(settings: Settings) -> None:
    """Run until interrupted. The access log is off: request lines would record who
    fetched what and when, which DESIGN.md does not let the server keep."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        ws_max_size=1024 * 1024,
    )
