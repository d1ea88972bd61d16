"""The SDK keeps the server stocked with one-time prekeys when it hears prekeys_low."""

from __future__ import annotations

import asyncio

from sottovoce.client import Client
from sottovoce.client.prekey_supply import PREKEY_BATCH
from sottovoce.server.limits import PREKEY_LOW_WATERMARK
from tests.sdk.conftest import MakeClient, listening, texts
from tests.support.waiting import eventually, take

PREKEYS = "/v1/devices/self/prekeys"


async def held(client: Client) -> tuple[int, int]:
    status = await client._transport.request("GET", PREKEYS)
    return status["one_time_prekeys"], status["kem_one_time_prekeys"]


async def drain(claimer: Client, target: Client, leave: int, *, check: bool = True) -> None:
    """Claim ``target``'s one-time keys until ``leave`` of each kind remain.

    ``check=False`` when the target is listening: it may top up before we can look.
    """
    (have, _) = await held(target)
    await asyncio.gather(
        *(
            claimer._transport.request("POST", "/v1/keys/claim", {"address": target.address})
            for _ in range(have - leave)
        )
    )
    if check:
        assert await held(target) == (leave, leave)


async def test_fetch_tops_up_when_the_server_reports_low(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    assert await held(bob) == (PREKEY_BATCH, PREKEY_BATCH)  # uploaded at registration
    await drain(alice, bob, PREKEY_LOW_WATERMARK - 1)
    assert await bob.fetch() == []
    assert await held(bob) == (PREKEY_BATCH, PREKEY_BATCH)
    # Claims take the oldest keys first: after these, the next claim gets a key the
    # top-up generated, and it must open a session like any other.
    await drain(alice, bob, PREKEY_BATCH - PREKEY_LOW_WATERMARK)
    carol = await make_client("carol")
    await carol.send(bob.address, "with a topped-up key")
    assert await texts(bob) == ["with a topped-up key"]


async def test_listen_tops_up_when_a_claim_leaves_the_device_low(
    make_client: MakeClient,
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "connect first")
    async with listening(bob) as stream:
        assert [m.text for m in await take(stream, 1)] == ["connect first"]
        next_message = asyncio.ensure_future(take(stream, 1))
        await drain(alice, bob, PREKEY_LOW_WATERMARK - 1, check=False)

        async def topped_up() -> bool:
            return await held(bob) == (PREKEY_BATCH, PREKEY_BATCH)

        await eventually(topped_up)
        await alice.send(bob.address, "still listening")
        assert [m.text for m in await next_message] == ["still listening"]
