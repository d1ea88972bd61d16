"""Deployments sharing one Redis keep their request buckets apart.

Buckets are keyed by device row id, which every deployment's database numbers
from 1; without the deployment's namespace in the key, one fleet's busy device
would drain the bucket of another fleet's device with the same row id.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from sottovoce.server.shared_limits import SharedLimits
from tests.support import services

BURST = 3


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    redis = Redis.from_url(services.redis().url)
    yield redis
    await redis.aclose()


async def test_a_drained_bucket_of_one_deployment_leaves_the_other_full(client: Redis) -> None:
    # A slow refill: the test's few milliseconds add no token.
    staging = SharedLimits(client, rate=0.001, burst=BURST, namespace=secrets.token_hex(8))
    production = SharedLimits(client, rate=0.001, burst=BURST, namespace=secrets.token_hex(8))
    device_pk = 1  # the first device of both databases
    assert [await staging.allow(device_pk) for _ in range(BURST + 1)] == [True] * BURST + [False]
    assert await production.allow(device_pk) is True
    sealed_staging = staging.buckets("sv:sealed:", 0.001, 1)
    sealed_production = production.buckets("sv:sealed:", 0.001, 1)
    assert [await sealed_staging.allow(7), await sealed_staging.allow(7)] == [True, False]
    assert await sealed_production.allow(7) is True
