"""Serve the app on 127.0.0.1 (never another interface) until interrupted."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

from sottovoce.app.guard import Guard
from sottovoce.app.session import FEED_QUEUE, TRANSPARENCY_WATCH_S, AppSession
from sottovoce.app.web import build_app
from sottovoce.crypto.password import Argon2Parameters

LOOPBACK = "127.0.0.1"


def loopback_socket(port: int) -> socket.socket:
    """Bound before uvicorn starts, so the port (0: any free one) is known first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    return sock


def serve(
    profile_dir: Path,
    server_url: str | None,
    port: int,
    on_ready: Callable[[str], None],
    *,
    argon2: Argon2Parameters | None = None,
    transparency_watch_s: float = TRANSPARENCY_WATCH_S,
    feed_queue: int = FEED_QUEUE,
) -> None:
    """Run until Ctrl-C; ``on_ready`` receives the one-time launch URL."""
    sock = loopback_socket(port)
    guard = Guard(sock.getsockname()[1])
    session = AppSession(
        profile_dir,
        server_url,
        argon2=argon2,
        transparency_watch_s=transparency_watch_s,
        feed_queue=feed_queue,
    )
    config = uvicorn.Config(
        build_app(session, guard),
        log_level="warning",
        access_log=False,  # a URL can name a contact; the app never logs who
        ws="websockets",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    on_ready(guard.launch_url())
    server.run(sockets=[sock])
