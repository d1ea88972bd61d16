"""Running the server under uvicorn, with logs that never carry content."""

from __future__ import annotations

import contextlib
import logging
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from sottovoce.server import heap, limits
from sottovoce.server.app import create_app
from sottovoce.server.settings import Settings


class _NoClientAddresses(logging.Filter):
    """Uvicorn logs every WebSocket handshake with the client's IP address and port,
    even with the access log off; that is a record of who connected from where."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith('%s - "WebSocket ')


def serve(settings: Settings) -> None:
    """Run until interrupted. The access log is off and handshake lines are dropped:
    request lines would record who fetched what, when and from where, which
    DESIGN.md does not let the server keep."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # uvicorn.Config reconfigures this logger's level and handlers but keeps its filters.
    logging.getLogger("uvicorn.error").addFilter(_NoClientAddresses())
    app = create_app(settings)
    heap.freeze_startup()  # after the imports and the app, before serving (server.heap)
    # One Config and one Server, what uvicorn.run builds for one process without
    # reloading: the node never imports uvicorn's command line and supervisors
    # (server/node_imports.py).
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        # The sans-I/O WebSocket protocol of the websockets library: no tasks of its
        # own per connection, ~8 KiB less RSS per idle socket than the legacy one
        # (docs/performance.md, memory), which uvicorn deprecates.
        ws="websockets-sansio",
        ws_max_size=limits.MAX_WEBSOCKET_MESSAGE_BYTES,
        # Frames carry ciphertext, which does not compress: deflating every pushed
        # message only cost CPU (bench/load.py profile, docs/performance.md).
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=limits.SHUTDOWN_GRACE_S,
    )
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        # As uvicorn.run: a port already taken, say, ends the process with this code.
        sys.exit(STARTUP_FAILURE)
