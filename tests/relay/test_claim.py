"""POST /v1/keys/claim: verifiable bundles, and each one-time key handed out once."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.prekeys import PrekeyKind, verify_prekey_signature
from tests.relay.device import Device, assert_problem


def raw(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


async def claim_one(claimer: Device, target: Device) -> dict[str, Any]:
    response = await claimer.claim(target.address)
    assert response.status_code == 200, response.text
    (bundle,) = response.json()["bundles"]
    return dict(bundle)


def check_signatures(bundle: dict[str, Any]) -> None:
    """Everything in a bundle verifies under the identity it names (PQXDH §3.3)."""
    identity = PublicIdentity.from_bytes(raw(bundle["identity"]))
    spk, kem = bundle["signed_prekey"], bundle["kem_prekey"]
    verify_prekey_signature(
        identity, PrekeyKind.SIGNED_EC, spk["id"], raw(spk["public"]), raw(spk["signature"])
    )
    kind = PrekeyKind.KEM_LAST_RESORT if kem["last_resort"] else PrekeyKind.KEM_ONE_TIME
    verify_prekey_signature(identity, kind, kem["id"], raw(kem["public"]), raw(kem["signature"]))


@pytest.fixture
async def pair(relay: httpx.AsyncClient) -> tuple[Device, Device]:
    alice = await Device(relay, "alice").register()
    bob = await Device(relay, "bob", "photos").register()
    return alice, bob


async def test_a_claim_returns_a_verifiable_bundle(pair: tuple[Device, Device]) -> None:
    alice, bob = pair
    await bob.stock(2)
    response = await alice.claim(bob.address)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["address"] == bob.address
    assert raw(answer["account_key"]) == bob.account_key.public
    (bundle,) = answer["bundles"]
    assert bundle["device_id"] == 1
    assert raw(bundle["identity"]) == bob.identity.public.to_bytes()
    assert bundle["kem_prekey"]["last_resort"] is False
    assert set(bundle["one_time_prekey"]) == {"id", "public"}
    assert len(raw(bundle["one_time_prekey"]["public"])) == 32
    check_signatures(bundle)


async def test_one_time_keys_leave_with_the_claim_then_the_last_resort_key_serves(
    pair: tuple[Device, Device],
) -> None:
    alice, bob = pair
    await bob.stock(3, 2)
    bundles = [await claim_one(alice, bob) for _ in range(4)]
    assert [b["one_time_prekey"] and b["one_time_prekey"]["id"] for b in bundles] == [1, 2, 3, None]
    assert [b["kem_prekey"]["last_resort"] for b in bundles] == [False, False, True, True]
    assert [b["kem_prekey"]["id"] for b in bundles[:2]] == [1, 2]
    for bundle in bundles:
        check_signatures(bundle)
    held = (await bob.call("GET", "/v1/devices/self/prekeys")).json()
    assert (held["one_time_prekeys"], held["kem_one_time_prekeys"]) == (0, 0)


async def test_a_device_without_prekeys_yields_no_bundle(pair: tuple[Device, Device]) -> None:
    alice, bob = pair
    response = await alice.claim(bob.address)
    assert response.status_code == 200, response.text
    assert response.json()["bundles"] == []


async def test_device_ids_select_what_is_claimed(pair: tuple[Device, Device]) -> None:
    alice, bob = pair
    await bob.stock(1)
    response = await alice.claim(bob.address, device_ids=[2])
    assert response.json()["bundles"] == []
    # Nothing was consumed by asking for a device that does not exist.
    assert (await claim_one(alice, bob))["one_time_prekey"]["id"] == 1


async def test_bad_claims_are_refused(
    relay: httpx.AsyncClient, pair: tuple[Device, Device]
) -> None:
    alice, bob = pair
    assert_problem(await alice.claim("nobody@chat"), 404, "unknown-account")
    assert_problem(await alice.claim(bob.handle), 400, "malformed-address")
    assert_problem(await alice.claim(bob.address, list(range(1, 18))), 422, "malformed-body")
    unsigned = await relay.post("/v1/keys/claim", json={"address": bob.address})
    assert_problem(unsigned, 401, "unauthenticated")


async def test_concurrent_claims_on_the_real_server_never_share_a_key(
    live_http: httpx.AsyncClient,
) -> None:
    """40 claims at once from four devices against 30 curve and 25 KEM one-time keys."""
    target = await Device(live_http, "target").register()
    await target.stock(30, 25)
    claimers = [await Device(live_http, f"claimer{i}").register() for i in range(4)]
    bundles = await asyncio.gather(*(claim_one(claimers[i % 4], target) for i in range(40)))

    one_time = [b["one_time_prekey"]["id"] for b in bundles if b["one_time_prekey"] is not None]
    assert sorted(one_time) == list(range(1, 31))
    kem = [b["kem_prekey"] for b in bundles]
    kem_one_time = [k["id"] for k in kem if not k["last_resort"]]
    assert sorted(kem_one_time) == list(range(1, 26))
    last_resort = [k for k in kem if k["last_resort"]]
    assert len(last_resort) == 15
    assert {k["id"] for k in last_resort} == {1}
    assert sum(b["one_time_prekey"] is None for b in bundles) == 10
    for bundle in bundles:
        check_signatures(bundle)
    held = (await target.call("GET", "/v1/devices/self/prekeys")).json()
    assert (held["one_time_prekeys"], held["kem_one_time_prekeys"]) == (0, 0)
