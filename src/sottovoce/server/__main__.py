"""``python -m sottovoce.server``: run the relay without the CLI's extras."""

from __future__ import annotations

import argparse

from sottovoce.server.run import serve
from sottovoce.server.settings import DEFAULT_DB, Settings, database_url


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sottovoce.server")
    parser.add_argument("--db", default=DEFAULT_DB, help="SQLite path or database URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--apps", default="chat,photos", help="comma-separated app names")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    serve(
        Settings(
            db_url=database_url(args.db),
            host=args.host,
            port=args.port,
            apps=tuple(a.strip() for a in args.apps.split(",") if a.strip()),
            log_level=args.log_level,
        )
    )


if __name__ == "__main__":
    main()
