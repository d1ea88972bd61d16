"""``python -m sottovoce.server``: run the relay without the CLI's extras.

It runs under ``-OO`` and ``-X no_debug_ranges`` (server/launch.py): started
without, it first replaces itself with the same command under them, before the
server stack is imported.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sottovoce.server import launch, limits, node_imports
from sottovoce.server.abuse.policy import served_apps
from sottovoce.server.settings import (
    DEFAULT_DB,
    Limits,
    Retention,
    Settings,
    Transparency,
    database_url,
)


def main() -> None:
    launch.ensure_node_options()
    launch.write_node_pycache()
    node_imports.keep_unused_library_parts_out()
    # Imported only now: the server stack (uvicorn, FastAPI, SQLAlchemy) in the
    # process that keeps it, never in the one ensure_node_options replaces.
    from sottovoce.server.run import serve

    parser = argparse.ArgumentParser(prog="python -m sottovoce.server")
    parser.add_argument(
        "--db", default=DEFAULT_DB, help="SQLite path or database URL (postgresql://user@host/db)"
    )
    parser.add_argument(
        "--redis", default=None, help="Redis URL (redis://host:port/db) to run as one of many nodes"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--apps",
        default="chat,photos",
        help="comma-separated app names; name:minors for an app that marks minors",
    )
    parser.add_argument(
        "--app-policy", type=Path, default=None, help="TOML file of per-app minor policies"
    )
    parser.add_argument(
        "--legal-dir",
        type=Path,
        default=None,
        help="directory of the operator's legal key and policy (default: 'legal' beside the db)",
    )
    parser.add_argument(
        "--blob-dir",
        type=Path,
        default=None,
        help="directory of attachment ciphertext files (default: 'blobs' beside the db); "
        "nodes sharing one PostgreSQL need it on shared storage",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--retention-days",
        type=int,
        default=limits.UNDELIVERED_RETENTION_DAYS,
        help="days an undelivered message is kept before it is dropped",
    )
    parser.add_argument(
        "--log-key-file",
        type=Path,
        default=None,
        help="raw 32-byte Ed25519 key signing the transparency log (default: kept in the db)",
    )
    parser.add_argument(
        "--epoch-seconds",
        type=float,
        default=limits.TRANSPARENCY_EPOCH_S,
        help="seconds between signed transparency tree heads",
    )
    parser.add_argument(
        "--requests-per-second",
        type=float,
        default=limits.REQUESTS_PER_SECOND,
        help="signed requests per second per device (bursts of 4 s worth)",
    )
    args = parser.parse_args()
    try:
        apps, policies = served_apps(args.apps, args.app_policy)
        settings = Settings(
            db_url=database_url(args.db),
            host=args.host,
            port=args.port,
            apps=apps,
            app_policies=policies,
            log_level=args.log_level,
            retention=Retention(undelivered_days=args.retention_days),
            redis_url=args.redis,
            limits=Limits(
                requests_per_second=args.requests_per_second,
                request_burst=max(1, int(args.requests_per_second * 4)),
            ),
            legal_dir=args.legal_dir,
            blob_dir=args.blob_dir,
            transparency=Transparency(
                key_file=args.log_key_file, epoch_interval_s=args.epoch_seconds
            ),
        )
    except ValueError as exc:
        parser.error(str(exc))
    serve(settings)


if __name__ == "__main__":
    main()
