"""Every bound answers a 4xx problem document, and the relay keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sottovoce.server.settings import Limits
from tests.relay.device import Device, assert_problem, envelope
from tests.support.in_process import in_process

SMALL = Limits(
    max_body_bytes=64 * 1024,
    max_envelope_bytes=1024,
    max_envelopes_per_message=2,
    max_queue_depth=3,
)
CHUNK = 16 * 1024


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(tmp_path / "small.db", SMALL) as relay:
        yield relay.http


@pytest.fixture
async def trio(small: httpx.AsyncClient) -> tuple[Device, Device, Device]:
    return (
        await Device(small, "alice").register(),
        await Device(small, "bob").register(),
        await Device(small, "carol").register(),
    )


async def still_serving(sender: Device, recipient: Device, message_id: str) -> None:
    """Another exchange after a refusal: sent, fetched, acknowledged."""
    response = await sender.send(recipient.address, message_id)
    assert response.status_code == 200, response.text
    messages = (await recipient.fetch())["messages"]
    assert message_id in [m["message_id"] for m in messages]
    await recipient.ack([m["id"] for m in messages if m["message_id"] == message_id])


async def test_a_declared_body_over_the_limit_is_refused_unread(
    small: httpx.AsyncClient, trio: tuple[Device, Device, Device]
) -> None:
    alice, bob, carol = trio
    body = json.dumps({"message_id": "big", "recipient": bob.address, "pad": "x" * 70_000})
    response = await small.post(
        "/v1/messages", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "body-too-large")
    await still_serving(alice, carol, "after-big")


async def test_a_streamed_body_is_cut_off_at_the_limit(
    small: httpx.AsyncClient, trio: tuple[Device, Device, Device]
) -> None:
    alice, _, carol = trio
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield b"x" * CHUNK

    response = await small.post("/v1/messages", content=endless())
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body-too-large")
    # The relay stopped reading just past the limit, not at the end of the stream.
    assert pulled <= SMALL.max_body_bytes // CHUNK + 2
    await still_serving(alice, carol, "after-stream")


async def test_the_real_server_refuses_big_bodies_both_ways(
    live_http: httpx.AsyncClient,
) -> None:
    huge = b'{"message_id": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = await live_http.post("/v1/messages", content=huge)
    assert_problem(response, 413, "body-too-large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b"y" * 65536

    response = await live_http.post("/v1/messages", content=chunks())
    assert_problem(response, 413, "body-too-large")
    alice = await Device(live_http, "alice").register()
    bob = await Device(live_http, "bob").register()
    await still_serving(alice, bob, "after-both")


async def test_too_many_envelopes_are_refused(trio: tuple[Device, Device, Device]) -> None:
    alice, bob, carol = trio
    response = await alice.send(bob.address, "many", [envelope(i) for i in (1, 2, 3)])
    assert_problem(response, 413, "too-many-envelopes")
    await still_serving(alice, bob, "after-many")
    await still_serving(carol, bob, "carol-too")


async def test_an_envelope_over_the_limit_is_refused(trio: tuple[Device, Device, Device]) -> None:
    alice, bob, _ = trio
    limit = SMALL.max_envelope_bytes
    problem = assert_problem(
        await alice.send(bob.address, "fat", [envelope(body=b"z" * (limit + 1))]),
        413,
        "field-too-large",
    )
    assert "envelopes[0].body" in problem["detail"]
    assert (await bob.fetch())["messages"] == []
    fits = await alice.send(bob.address, "fits", [envelope(body=b"z" * limit)])
    assert fits.status_code == 200, fits.text


async def test_a_full_queue_refuses_until_acknowledged(
    trio: tuple[Device, Device, Device],
) -> None:
    alice, bob, carol = trio
    for i in range(SMALL.max_queue_depth):
        assert (await alice.send(bob.address, f"q{i}")).status_code == 200
    assert_problem(await carol.send(bob.address, "overflow"), 429, "queue-full")
    await still_serving(alice, carol, "other-queue")
    messages = (await bob.fetch())["messages"]
    assert [m["message_id"] for m in messages] == ["q0", "q1", "q2"]
    await bob.ack([messages[0]["id"]])
    assert (await carol.send(bob.address, "room-again")).status_code == 200


async def test_a_retry_of_a_stored_message_is_a_duplicate_even_when_the_queue_is_full(
    trio: tuple[Device, Device, Device],
) -> None:
    """The message that filled the queue was stored; if its answer was lost, the
    retry must learn that (duplicate) rather than be told to try again later."""
    alice, bob, _ = trio
    for i in range(SMALL.max_queue_depth):
        assert (await alice.send(bob.address, f"q{i}")).status_code == 200
    retry = await alice.send(bob.address, f"q{SMALL.max_queue_depth - 1}")
    assert retry.status_code == 200, retry.text
    assert retry.json()["duplicate"] is True


async def test_requests_are_rate_limited_per_device(tmp_path: Path) -> None:
    limits = Limits(requests_per_second=1.0, request_burst=5)
    async with in_process(tmp_path / "rate.db", limits) as relay:
        http = relay.http
        alice = await Device(http, "alice").register()
        bob = await Device(http, "bob").register()
        statuses = [(await alice.call("GET", "/v1/messages")).status_code for _ in range(5)]
        assert statuses == [200] * 5
        assert_problem(await alice.call("GET", "/v1/messages"), 429, "rate-limited")
        # Others are unaffected, and the limited device recovers at the refill rate.
        assert (await bob.call("GET", "/v1/messages")).status_code == 200
        await asyncio.sleep(1.05 / limits.requests_per_second)
        assert (await alice.call("GET", "/v1/messages")).status_code == 200
