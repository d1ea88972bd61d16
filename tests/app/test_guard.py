"""The local app accepts only its own page: session secret, Host and Origin checks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.app.app_process import AppProcess


@pytest.fixture
def app(tmp_path: Path) -> Iterator[AppProcess]:
    process = AppProcess(tmp_path / "profile", "http://127.0.0.1:9", tmp_path / "app.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _own(app: AppProcess) -> dict[str, str]:
    return {"Origin": app.base.rstrip("/")}


@contextmanager
def _session(app: AppProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.base) as client:
        answer = client.post("/api/session", json={"token": app.token}, headers=_own(app))
        assert answer.status_code == 200
        set_cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        yield client


def test_listens_on_loopback_only(app: AppProcess) -> None:
    assert app.base.startswith("http://127.0.0.1:")


def test_the_page_itself_needs_no_secret_but_the_api_does(app: AppProcess) -> None:
    page = httpx.get(app.base)
    assert page.status_code == 200 and "Sottovoce" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    refused = httpx.get(f"{app.base}api/state")
    assert refused.status_code == 403
    assert refused.json()["error"] == "refused: no valid session cookie"


def test_the_token_works_once_and_a_wrong_one_never(app: AppProcess) -> None:
    wrong = httpx.post(f"{app.base}api/session", json={"token": "x" * 43}, headers=_own(app))
    assert wrong.status_code == 403
    with _session(app) as client:
        assert client.get("/api/state").json()["status"] == "new"
    again = httpx.post(f"{app.base}api/session", json={"token": app.token}, headers=_own(app))
    assert again.status_code == 403


def test_cross_origin_requests_are_refused_even_with_the_cookie(app: AppProcess) -> None:
    with _session(app) as client:
        evil = {"Origin": "http://evil.example"}
        assert client.get("/api/state", headers=evil).status_code == 403
        answer = client.post("/api/signin", json={"passphrase": "x"}, headers=evil)
        assert answer.status_code == 403
        assert answer.json()["error"] == "refused: cross-origin request"
        site = {"Sec-Fetch-Site": "cross-site"}
        assert client.get("/api/state", headers=site).status_code == 403
        # A write without any Origin is not from a browser page of this app.
        assert client.post("/api/signout").status_code == 403
        assert client.post("/api/signout", headers=_own(app)).status_code == 200


def test_dns_rebinding_host_is_refused(app: AppProcess) -> None:
    with _session(app) as client:
        rebound = {"Host": f"attacker.example:{app.port}"}
        assert client.get("/api/state", headers=rebound).status_code == 403
        assert httpx.get(app.base, headers=rebound).status_code == 403


def test_a_cross_origin_token_exchange_is_refused(app: AppProcess) -> None:
    answer = httpx.post(
        f"{app.base}api/session", json={"token": app.token}, headers={"Origin": "null"}
    )
    assert answer.status_code == 403
    with _session(app):  # the token was not spent by the refused attempt
        pass


async def _websocket_refused(app: AppProcess, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{app.port}/ws", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403


async def test_websocket_needs_cookie_and_own_origin(app: AppProcess) -> None:
    with _session(app) as client:
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    origin = app.base.rstrip("/")
    await _websocket_refused(app, {"Origin": origin})
    await _websocket_refused(app, {"Origin": "http://evil.example", "Cookie": cookie})
    async with connect(
        f"ws://127.0.0.1:{app.port}/ws", additional_headers={"Origin": origin, "Cookie": cookie}
    ) as socket:
        await socket.ping()
        await asyncio.sleep(0)
