"""Concurrent requests take their shared tokens in one Redis call
(server.shared_limits: one script over every key of the round), and each gets
the answer it would have got alone: a bucket gives no more tokens than it holds,
whoever asks at once, and each key is its own bucket."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from sottovoce.server.shared_limits import SharedLimits
from tests.support import services

BURST = 5
# A slow refill: the test's few milliseconds add no token.
RATE = 0.001


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    redis = Redis.from_url(services.redis().url)
    yield redis
    await redis.aclose()


async def test_concurrent_takes_from_one_bucket_get_its_tokens_and_no_more(
    client: Redis,
) -> None:
    limits = SharedLimits(client, rate=RATE, burst=BURST, namespace=secrets.token_hex(8))
    answers = await asyncio.gather(*(limits.allow(1) for _ in range(4 * BURST)))
    assert answers.count(True) == BURST
    assert answers.count(False) == 3 * BURST
    assert answers[:BURST] == [True] * BURST  # in the order they asked


async def test_concurrent_takes_of_many_keys_and_families_count_apart(client: Redis) -> None:
    limits = SharedLimits(client, rate=RATE, burst=BURST, namespace=secrets.token_hex(8))
    sealed = limits.buckets("sv:sealed:", RATE, 1)
    devices = [limits.allow(pk) for pk in range(1, 21) for _ in range(BURST + 1)]
    recipients = [sealed.allow(7), sealed.allow(7), sealed.allow(8)]
    answers = await asyncio.gather(*devices, *recipients)
    per_device = [answers[i : i + BURST + 1] for i in range(0, 20 * (BURST + 1), BURST + 1)]
    assert all(a == [True] * BURST + [False] for a in per_device)
    assert answers[20 * (BURST + 1) :] == [True, False, True]
