"""Many simultaneous claims against the real server process: no one-time key twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from tests.support.device import CLAIM, PREKEYS, BareDevice
from tests.support.live_server import LiveServer

ONE_TIME = 40
CLAIMERS = 10
CLAIMS_EACH = 6  # 60 claims for 40 keys: the last 20 must get none


async def test_concurrent_claims_never_share_a_one_time_key(
    live_server_module: LiveServer,
) -> None:
    limits = httpx.Limits(max_connections=CLAIMERS * CLAIMS_EACH)
    async with httpx.AsyncClient(
        base_url=live_server_module.url, timeout=60, limits=limits
    ) as http:
        bob = await BareDevice().register(http)
        upload = bob.prekeys(one_time=ONE_TIME, kem_one_time=ONE_TIME)
        assert (await bob.call(http, "PUT", PREKEYS, upload)).status_code == 200
        claimers = await asyncio.gather(*(BareDevice().register(http) for _ in range(CLAIMERS)))

        async def claim(claimer: BareDevice) -> dict[str, Any]:
            response = await claimer.call(http, "POST", CLAIM, {"address": bob.address})
            assert response.status_code == 200, response.text
            (bundle,) = response.json()["bundles"]
            return dict(bundle)

        bundles = await asyncio.gather(*(claim(c) for c in claimers for _ in range(CLAIMS_EACH)))
        status = (await bob.call(http, "GET", PREKEYS)).json()

    one_time = Counter(b["one_time_prekey"]["id"] for b in bundles if b["one_time_prekey"])
    kem = Counter(b["kem_prekey"]["id"] for b in bundles if not b["kem_prekey"]["last_resort"])
    assert max(one_time.values()) == 1 and max(kem.values()) == 1
    assert set(one_time) == {k["id"] for k in upload["one_time_prekeys"]}
    assert set(kem) == {k["id"] for k in upload["kem_one_time_prekeys"]}
    exhausted = [b for b in bundles if b["one_time_prekey"] is None]
    assert len(exhausted) == CLAIMERS * CLAIMS_EACH - ONE_TIME
    assert all(b["kem_prekey"]["last_resort"] for b in exhausted)
    assert (status["one_time_prekeys"], status["kem_one_time_prekeys"]) == (0, 0)
