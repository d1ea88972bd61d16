"""While a client listens, it sends on its WebSocket (client.live_connection) with
the same outcomes as over HTTP: stale device lists refreshed and retried, and
sends made from inside the listen loop answered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import pytest

from sottovoce.client import Client
from tests.support.people import LinkDevice, MakeClient

TIMEOUT_S = 20.0


async def texts(client: Client) -> list[str]:
    return [m.text for m in await client.fetch()]


@asynccontextmanager
async def listening(
    client: Client, replies: dict[str, str] | None = None
) -> AsyncIterator[list[str]]:
    """``client`` listening (answering texts found in ``replies`` from inside the
    loop); yields the texts received so far."""
    received: list[str] = []

    async def listen() -> None:
        async with aclosing(client.listen()) as stream:
            async for message in stream:
                received.append(message.text)
                if replies and message.text in replies:
                    await client.send(message.sender, replies[message.text])

    task = asyncio.create_task(listen())
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while client._transport._live is None:
                await asyncio.sleep(0.02)
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(received: list[str], expected: list[str]) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while received != expected:
            await asyncio.sleep(0.02)


def no_http_sends(client: Client, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail any POST /v1/messages ``client`` makes over HTTP; the paths it posts to."""
    posted: list[str] = []
    request = client._transport.request

    async def refuse(method: str, path: str, payload: Any = None) -> dict[str, Any]:
        if (method, path) == ("POST", "/v1/messages"):
            posted.append(path)
            raise AssertionError("sent over HTTP while the live connection was open")
        return await request(method, path, payload)

    monkeypatch.setattr(client._transport, "request", refuse)
    return posted


async def test_a_listening_client_sends_on_its_socket(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    async with listening(alice):
        posted = no_http_sends(alice, monkeypatch)
        sent = [await alice.send(bob.address, f"live {i}") for i in range(3)]
    assert posted == []
    assert await texts(bob) == ["live 0", "live 1", "live 2"]
    assert [e.message_id for e in alice.history(bob.address)] == [s.message_id for s in sent]


async def test_without_the_socket_sends_go_over_http_again(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    async with listening(alice):
        await alice.send(bob.address, "on the socket")
    assert alice._transport._live is None
    await alice.send(bob.address, "over http")
    assert await texts(bob) == ["on the socket", "over http"]


async def test_stale_devices_on_the_socket_are_refreshed_and_retried(
    make_client: MakeClient, link_device: LinkDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await bob.send(alice.address, "hi alice")  # bob pins alice's one-device list
    assert await texts(alice) == ["hi alice"]
    alice2 = await link_device(alice)
    async with listening(bob):
        posted = no_http_sends(bob, monkeypatch)
        # The server answers the frame with 409 stale-devices; bob refreshes, retries.
        await bob.send(alice.address, "to both of yours")
    assert posted == []
    assert await texts(alice) == ["to both of yours"]
    assert await texts(alice2) == ["to both of yours"]


async def test_a_send_from_inside_the_listen_loop_is_answered(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "hello")  # sessions both ways before either listens
    await bob.send(alice.address, "hello back")
    assert await texts(bob) == ["hello"]
    assert await texts(alice) == ["hello back"]
    async with listening(bob, replies={"ping": "pong"}), listening(alice) as at_alice:
        await alice.send(bob.address, "ping")
        await eventually(at_alice, ["pong"])
