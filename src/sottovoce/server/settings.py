"""Server configuration: one frozen object built by the CLI or by tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sottovoce.server import limits

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
DEFAULT_DB = "sottovoce-server.db"


def database_url(value: str) -> str:
    """Accept a plain path, ``sqlite:///path`` or a full async SQLAlchemy URL."""
    if "://" not in value:
        return f"sqlite+aiosqlite:///{Path(value).expanduser()}"
    if value.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + value[len("sqlite://") :]
    if value.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + value.split("://", 1)[1]
    return value


@dataclass(frozen=True)
class Limits:
    """Per-deployment bounds; defaults and reasons live in :mod:`sottovoce.server.limits`."""

    max_body_bytes: int = limits.MAX_BODY_BYTES
    max_envelope_bytes: int = limits.MAX_ENVELOPE_BYTES
    max_envelopes_per_message: int = limits.MAX_ENVELOPES_PER_MESSAGE
    max_queue_depth: int = limits.MAX_QUEUE_DEPTH
    requests_per_second: float = limits.REQUESTS_PER_SECOND
    request_burst: int = limits.REQUEST_BURST


@dataclass(frozen=True)
class Retention:
    """How long the server keeps what it may hold (DESIGN.md: minimum by default)."""

    undelivered_days: int = limits.UNDELIVERED_RETENTION_DAYS
    sweep_interval_s: float = limits.RETENTION_SWEEP_INTERVAL_S

    def __post_init__(self) -> None:
        if self.undelivered_days < 1:
            raise ValueError("undelivered messages must be kept at least one day")
        if self.sweep_interval_s <= 0:
            raise ValueError("the retention sweep interval must be positive")


@dataclass(frozen=True)
class Settings:
    db_url: str = database_url(DEFAULT_DB)
    host: str = "127.0.0.1"
    port: int = 8000
    apps: tuple[str, ...] = ("chat", "photos")
    log_level: str = "info"
    limits: Limits = field(default_factory=Limits)
    retention: Retention = field(default_factory=Retention)

    def __post_init__(self) -> None:
        for app in self.apps:
            if not APP_NAME.fullmatch(app):
                raise ValueError(f"app name {app!r} must match {APP_NAME.pattern}")
        if not self.apps:
            raise ValueError("the server needs at least one app")
