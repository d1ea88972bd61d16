"""Every traffic bound answers a 4xx problem document, and only its offender is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx

from sottovoce.server.settings import Limits
from tests.server.conftest import Relay
from tests.support.device import ACK, MESSAGES, PREKEYS, BareDevice, assert_problem
from tests.support.live_server import LiveServer

RelayWith = Callable[[Limits], AbstractAsyncContextManager[Relay]]


async def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    """A body without Content-Length, streamed in pieces."""
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


async def test_an_oversized_body_is_refused_before_it_is_read(relay_with: RelayWith) -> None:
    async with relay_with(Limits(max_body_bytes=1_000)) as relay:
        alice = await BareDevice().register(relay.http)
        declared = alice.build(relay.http, "POST", MESSAGES, content=b" " * 1_001)
        assert_problem(await relay.http.send(declared), 413, "body-too-large")
        streamed = relay.http.build_request(
            "POST", MESSAGES, content=chunks(5_000), headers={"authorization": "x"}
        )
        assert "content-length" not in streamed.headers
        assert_problem(await relay.http.send(streamed), 413, "body-too-large")
        assert (await alice.call(relay.http, "GET", PREKEYS)).status_code == 200


async def test_too_many_envelopes_are_refused(relay_with: RelayWith) -> None:
    async with relay_with(Limits(max_envelopes_per_message=2)) as relay:
        alice = await BareDevice().register(relay.http)
        bob = await BareDevice().register(relay.http)
        send = BareDevice.send_body(bob.address, (1, 2, 3))
        problem = assert_problem(
            await alice.call(relay.http, "POST", MESSAGES, send), 413, "too-many-envelopes"
        )
        assert "2" in problem["detail"]


async def test_an_oversized_envelope_is_refused_naming_it(relay_with: RelayWith) -> None:
    async with relay_with(Limits(max_envelope_bytes=100)) as relay:
        alice = await BareDevice().register(relay.http)
        bob = await BareDevice().register(relay.http)
        fits = BareDevice.send_body(bob.address, body=b"x" * 100)
        assert (await alice.call(relay.http, "POST", MESSAGES, fits)).status_code == 200
        big = BareDevice.send_body(bob.address, body=b"x" * 101)
        problem = assert_problem(
            await alice.call(relay.http, "POST", MESSAGES, big), 413, "field-too-large"
        )
        assert "envelopes[0].body" in problem["detail"]


async def test_a_full_queue_refuses_more_for_that_device_only(relay_with: RelayWith) -> None:
    async with relay_with(Limits(max_queue_depth=3)) as relay:
        alice = await BareDevice().register(relay.http)
        bob = await BareDevice().register(relay.http)
        carol = await BareDevice().register(relay.http)
        for _ in range(3):
            send = BareDevice.send_body(bob.address)
            assert (await alice.call(relay.http, "POST", MESSAGES, send)).status_code == 200
        full = await alice.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address))
        assert_problem(full, 429, "queue-full")
        to_carol = BareDevice.send_body(carol.address)
        assert (await alice.call(relay.http, "POST", MESSAGES, to_carol)).status_code == 200
        # Acknowledging makes room again.
        page = (await bob.call(relay.http, "GET", MESSAGES)).json()
        first = page["messages"][0]["id"]
        await bob.call(relay.http, "POST", ACK, {"ids": [first]})
        again = await alice.call(relay.http, "POST", MESSAGES, BareDevice.send_body(bob.address))
        assert again.status_code == 200


async def test_the_request_rate_is_limited_per_device(relay_with: RelayWith) -> None:
    async with relay_with(Limits(requests_per_second=0.01, request_burst=5)) as relay:
        alice = await BareDevice().register(relay.http)
        bob = await BareDevice().register(relay.http)
        statuses = [(await alice.call(relay.http, "GET", PREKEYS)).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        assert_problem(await alice.call(relay.http, "GET", PREKEYS), 429, "rate-limited")
        assert (await bob.call(relay.http, "GET", PREKEYS)).status_code == 200


async def test_the_real_server_refuses_a_huge_body_and_keeps_serving(
    live_server_module: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server_module.url, timeout=30) as http:
        alice = await BareDevice().register(http)
        huge = alice.build(http, "POST", MESSAGES, content=b"[" * (5 * 1024 * 1024))
        assert_problem(await http.send(huge), 413, "body-too-large")
        streamed = http.build_request("POST", MESSAGES, content=chunks(6 * 1024 * 1024, 65_536))
        assert_problem(await http.send(streamed), 413, "body-too-large")
        assert (await alice.call(http, "GET", PREKEYS)).status_code == 200
