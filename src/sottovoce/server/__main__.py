"""``python -m sottovoce.server``: run the relay without the CLI's extras."""

from __future__ import annotations

import argparse

from sottovoce.server import limits
from sottovoce.server.run import serve
from sottovoce.server.settings import DEFAULT_DB, Retention, Settings, database_url


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sottovoce.server")
    parser.add_argument("--db", default=DEFAULT_DB, help="SQLite path or database URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--apps", default="chat,photos", help="comma-separated app names")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--retention-days",
        type=int,
        default=limits.UNDELIVERED_RETENTION_DAYS,
        help="days an undelivered message is kept before it is dropped",
    )
    args = parser.parse_args()
    try:
        settings = Settings(
            db_url=database_url(args.db),
            host=args.host,
            port=args.port,
            apps=tuple(a.strip() for a in args.apps.split(",") if a.strip()),
            log_level=args.log_level,
            retention=Retention(undelivered_days=args.retention_days),
        )
    except ValueError as exc:
        parser.error(str(exc))
    serve(settings)


if __name__ == "__main__":
    main()
