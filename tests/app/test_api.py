"""The app's API for devices, alerts, report and block, through the real app process."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from sottovoce.client import Client
from tests.app.app_process import AppProcess
from tests.support.live_server import LiveServer


@contextmanager
def _signed_up(app: AppProcess, app_name: str, handle: str) -> Iterator[httpx.Client]:
    with app.http() as http:
        answer = http.post(
            "/api/signup",
            json={
                "server": app.server_url,
                "app": app_name,
                "handle": handle,
                "passphrase": "a passphrase",
            },
        )
        assert answer.status_code == 200, answer.text
        yield http


def _wait(check: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


async def test_devices_alerts_report_and_block(app_server: LiveServer, tmp_path: Path) -> None:
    app = AppProcess(tmp_path / "bob", app_server.url, tmp_path / "bob.log")
    app.start()
    tag = secrets.token_hex(3)
    alice = await Client.create_account(tmp_path / "alice", app_server.url, "chat", f"a-{tag}")
    try:
        with _signed_up(app, "photos", f"bob-{tag}") as http:
            devices = http.get("/api/devices").json()["devices"]
            assert [(d["id"], d["this_device"]) for d in devices] == [(1, True)]
            assert http.get("/api/alerts").json() == {"alerts": []}
            assert http.get("/api/settings").json() == {"receipts": True, "typing": True}

            sent = await alice.send(f"bob-{tag}@photos", "buy my pills")
            _wait(lambda: http.get("/api/conversations").json()["requests"])
            (request,) = http.get("/api/conversations").json()["requests"]
            assert request["id"] == alice.address and request["unread"] == 1
            filed = http.post(f"/api/messages/{sent.message_id}/report", json={"reason": "spam"})
            assert filed.status_code == 200, filed.text
            assert filed.json()["reported"] == alice.address

            assert http.post(f"/api/block/{alice.address}", json={"report": False}).json()
            await alice.send(f"bob-{tag}@photos", "are you there?")
            time.sleep(2)
            assert http.get("/api/conversations").json()["requests"] == []
            assert http.get("/api/search", params={"q": "are you there"}).json() == {"hits": []}

            wrong = http.post("/api/devices/link", json={"code": "sv-link:not-a-code"})
            assert wrong.status_code == 400 and wrong.json()["error"]
    finally:
        await alice.close()
        app.stop()
