"""Server configuration: one frozen object built by the CLI or by tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sottovoce.server import limits
from sottovoce.server.abuse.policy import AppPolicy

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
class Transparency:
    """The key-transparency log (docs/transparency.md): its signing key and epoch length.

    ``key_file`` holds the log's raw 32-byte Ed25519 private key; without one the
    server generates a key on first start and keeps it in its database.
    """

    key_file: Path | None = None
    epoch_interval_s: float = limits.TRANSPARENCY_EPOCH_S

    def __post_init__(self) -> None:
        if self.epoch_interval_s <= 0:
            raise ValueError("the transparency epoch interval must be positive")


@dataclass(frozen=True)
class Settings:
    db_url: str = database_url(DEFAULT_DB)
    host: str = "127.0.0.1"
    port: int = 8000
    apps: tuple[str, ...] = ("chat", "photos")
    log_level: str = "info"
    limits: Limits = field(default_factory=Limits)
    retention: Retention = field(default_factory=Retention)
    transparency: Transparency = field(default_factory=Transparency)
    # Redis for cross-node wake-ups, replay cache and rate limits (docs/operations.md);
    # None runs one node on its own, with all three in memory.
    redis_url: str | None = None
    # Apps that mark minors, and how their minors are protected (docs/safety.md).
    app_policies: dict[str, AppPolicy] = field(default_factory=dict)
    # The operator's legal key and policy (docs/legal.md); None: "legal" beside the
    # SQLite file, else ./sottovoce-legal.
    legal_dir: Path | None = None
    # Attachment ciphertext files (docs/operations.md); None: "blobs" beside the SQLite
    # file, else ./sottovoce-blobs. Nodes sharing one PostgreSQL must share this directory.
    blob_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("the Redis URL must start with redis://, rediss:// or unix://")
        for app in self.apps:
            if not APP_NAME.fullmatch(app):
                raise ValueError(f"app name {app!r} must match {APP_NAME.pattern}")
        unserved = sorted(set(self.app_policies) - set(self.apps))
        if unserved:
            raise ValueError(f"app policies name apps this server does not serve: {unserved}")
        if not self.apps:
            raise ValueError("the server needs at least one app")
