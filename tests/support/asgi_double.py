"""What the tests' lying servers (an ASGI wrapper around the real app) share: who
asks, the real app's answer captured whole so that it can be altered, and the
command line a test starts one with (``python -m <module> --db … --port …``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope

from sottovoce.crypto import signing
from sottovoce.protocol.public.request_auth import parse_authorization_header
from sottovoce.server.app import create_app
from sottovoce.server.settings import Settings, Transparency, database_url


def requester(scope: Scope) -> str:
    """The address a request is signed by, or "" for an unsigned or malformed one."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            try:
                return parse_authorization_header(value.decode()).address
            except Exception:
                return ""
    return ""


async def call_real(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
    """The real app's status, headers and body for this request."""
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return int(started["status"]), list(started.get("headers", [])), b"".join(chunks)


def serve_double(prog: str, double: Callable[[FastAPI, signing.SigningKey], ASGIApp]) -> None:
    """Serve the real app on the arguments a test passes, behind ``double`` (given
    the app and the log key it signs heads with)."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--apps", default="chat,photos")
    parser.add_argument("--log-key-file", type=Path, required=True)
    args, _ = parser.parse_known_args()
    settings = Settings(
        db_url=database_url(args.db),
        port=args.port,
        apps=tuple(args.apps.split(",")),
        log_level="warning",
        transparency=Transparency(key_file=args.log_key_file, epoch_interval_s=0.5),
    )
    real = create_app(settings)
    log_key = signing.SigningKey.from_bytes(args.log_key_file.read_bytes())
    uvicorn.run(
        double(real, log_key),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )
