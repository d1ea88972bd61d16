"""Two nodes' Redis fan-outs on the suite's Redis, for the tests of what crosses it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from sottovoce.fanout.redis import RedisFanout
from tests.support import services


@pytest.fixture
async def two_fanouts() -> AsyncIterator[tuple[RedisFanout, RedisFanout]]:
    client = Redis.from_url(services.redis().url)
    a, b = RedisFanout(client), RedisFanout(client)
    await a.start()
    await b.start()
    try:
        for _ in range(500):
            if a.connected and b.connected:
                break
            await asyncio.sleep(0.01)
        assert a.connected and b.connected
        yield a, b
    finally:
        await a.close()
        await b.close()
        await client.aclose()
