"""Safety fixtures: the relay in-process with an app that marks minors, and bare
devices that speak the API directly."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sottovoce.server.abuse.policy import parse_apps
from sottovoce.server.settings import Settings
from sottovoce.server.state import ServerState
from tests.support import services
from tests.support.api_device import ApiDevice
from tests.support.in_process import running

# chat and photos mark no minors; kids does, with every protection on.
APPS = "chat,photos,kids:minors"


@dataclass
class SafetyRelay:
    http: httpx.AsyncClient
    state: ServerState

    async def account(self, name: str, app: str = "chat", *, minor: bool = False) -> ApiDevice:
        device = ApiDevice(f"{name}-{secrets.token_hex(3)}", app)
        body = {**device.registration(), "minor": minor}
        answer = await device.arequest(self.http, "POST", "/v1/accounts", body)
        assert answer.status_code == 201, answer.text
        return device

    async def send(self, sender: ApiDevice, recipient: ApiDevice) -> httpx.Response:
        """One unsealed message to device 1 of ``recipient`` (opaque bytes)."""
        return await sender.arequest(
            self.http,
            "POST",
            "/v1/messages",
            {
                "message_id": secrets.token_hex(8),
                "recipient": recipient.address,
                "envelopes": [
                    {"device_id": 1, "type": "message", "body": base64.b64encode(b"x").decode()}
                ],
            },
        )

    async def fetch(self, device: ApiDevice) -> list[dict[str, Any]]:
        answer = await device.arequest(self.http, "GET", "/v1/messages", None)
        assert answer.status_code == 200, answer.text
        messages: list[dict[str, Any]] = answer.json()["messages"]
        return messages


def relay_settings(db: Path, apps: str = APPS) -> Settings:
    names, policies = parse_apps(apps)
    return Settings(
        db_url=services.test_database_url(db),
        redis_url=services.test_redis_url(),
        apps=names,
        app_policies=policies,
    )


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[SafetyRelay]:
    async with running(relay_settings(tmp_path / "relay.db")) as server:
        yield SafetyRelay(server.http, server.state)
