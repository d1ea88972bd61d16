"""Configuration: database URLs, app names, retention, and the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sottovoce.server.settings import Retention, Settings, database_url


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("server.db", "sqlite+aiosqlite:///server.db"),
        ("/var/lib/sv/server.db", "sqlite+aiosqlite:////var/lib/sv/server.db"),
        ("sqlite:///server.db", "sqlite+aiosqlite:///server.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_become_async_urls(given: str, url: str) -> None:
    assert database_url(given) == url


def test_defaults_match_the_documented_ones() -> None:
    settings = Settings()
    assert settings.db_url.startswith("sqlite+aiosqlite:///")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.apps == ("chat", "photos")
    assert settings.retention.undelivered_days == 30


@pytest.mark.parametrize("apps", [(), ("Chat",), ("chat\n",), ("9lives",), ("a" * 33,)])
def test_bad_app_names_are_refused(apps: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="app"):
        Settings(apps=apps)


def test_retention_has_a_floor() -> None:
    with pytest.raises(ValueError, match="one day"):
        Retention(undelivered_days=0)


def test_the_command_line_reports_bad_settings_without_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sottovoce.server", "--apps", "Bad!"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "app name 'Bad!'" in result.stderr
    assert "Traceback" not in result.stderr
