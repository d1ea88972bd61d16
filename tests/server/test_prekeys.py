"""Prekey upload, status and claims (docs/api.md; PQXDH §3.2 bundles)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.prekeys import PrekeyKind, verify_prekey_signature
from sottovoce.server import limits
from tests.server.conftest import Relay
from tests.support.device import CLAIM, MESSAGES, PREKEYS, BareDevice, assert_problem, b64


async def upload(relay: Relay, device: BareDevice, payload: dict[str, Any]) -> dict[str, Any]:
    response = await device.call(relay.http, "PUT", PREKEYS, payload)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_an_upload_is_counted_and_reported(relay: Relay) -> None:
    bob = await BareDevice().register(relay.http)
    payload = bob.prekeys(one_time=3, kem_one_time=2)
    assert await upload(relay, bob, payload) == {"one_time_prekeys": 3, "kem_one_time_prekeys": 2}
    assert await upload(relay, bob, bob.prekeys(one_time=1, with_signed=False)) == {
        "one_time_prekeys": 4,
        "kem_one_time_prekeys": 2,
    }
    status = (await bob.call(relay.http, "GET", PREKEYS)).json()
    assert status == {
        "one_time_prekeys": 4,
        "kem_one_time_prekeys": 2,
        "signed_prekey_id": payload["signed_prekey"]["id"],
        "kem_last_resort_id": payload["kem_last_resort"]["id"],
    }


@pytest.mark.parametrize("kind", ["signed_prekey", "kem_last_resort", "kem_one_time_prekeys"])
async def test_a_bad_prekey_signature_is_refused_and_nothing_is_stored(
    relay: Relay, kind: str
) -> None:
    bob = await BareDevice().register(relay.http)
    payload = bob.prekeys(one_time=2, kem_one_time=1)
    key = payload[kind][0] if kind == "kem_one_time_prekeys" else payload[kind]
    signature = bytearray(base64.b64decode(key["signature"]))
    signature[0] ^= 1
    key["signature"] = b64(bytes(signature))
    problem = assert_problem(
        await bob.call(relay.http, "PUT", PREKEYS, payload), 400, "bad-prekey-signature"
    )
    assert kind in problem["detail"]
    status = (await bob.call(relay.http, "GET", PREKEYS)).json()
    assert status["one_time_prekeys"] == 0 and status["signed_prekey_id"] is None


async def test_a_signature_for_another_key_id_or_kind_is_refused(relay: Relay) -> None:
    """The id and kind are signed, so the server cannot relabel keys and neither can
    an uploader reuse a last-resort signature for a one-time key."""
    bob = await BareDevice().register(relay.http)
    payload = bob.prekeys()
    relabelled = {**payload, "signed_prekey": {**payload["signed_prekey"], "id": 999}}
    assert_problem(
        await bob.call(relay.http, "PUT", PREKEYS, relabelled), 400, "bad-prekey-signature"
    )
    as_one_time = {"kem_one_time_prekeys": [payload["kem_last_resort"]]}
    assert_problem(
        await bob.call(relay.http, "PUT", PREKEYS, as_one_time), 400, "bad-prekey-signature"
    )


@pytest.mark.parametrize(
    ("field", "public", "kind"),
    [
        ("signed_prekey", b"\x01" * 31, "bad-prekey"),
        ("kem_last_resort", b"\x01" * 1567, "bad-prekey"),
        ("one_time_prekeys", b"\x01" * 33, "bad-prekey"),
    ],
)
async def test_a_key_of_the_wrong_length_is_refused(
    relay: Relay, field: str, public: bytes, kind: str
) -> None:
    bob = await BareDevice().register(relay.http)
    payload = bob.prekeys(one_time=1)
    key = payload[field][0] if field == "one_time_prekeys" else payload[field]
    key["public"] = b64(public)
    problem = assert_problem(await bob.call(relay.http, "PUT", PREKEYS, payload), 400, kind)
    assert field in problem["detail"]


async def test_duplicate_one_time_key_ids_are_refused(relay: Relay) -> None:
    bob = await BareDevice().register(relay.http)
    payload = bob.prekeys(one_time=2)
    payload["one_time_prekeys"][1]["id"] = payload["one_time_prekeys"][0]["id"]
    assert_problem(await bob.call(relay.http, "PUT", PREKEYS, payload), 400, "duplicate-prekey")
    first = bob.prekeys(one_time=1)
    await upload(relay, bob, first)
    again = {"one_time_prekeys": first["one_time_prekeys"]}
    assert_problem(await bob.call(relay.http, "PUT", PREKEYS, again), 409, "duplicate-prekey")
    status = (await bob.call(relay.http, "GET", PREKEYS)).json()
    assert status["one_time_prekeys"] == 1


async def test_an_upload_is_bounded(relay: Relay) -> None:
    bob = await BareDevice().register(relay.http)
    payload = {
        "one_time_prekeys": [
            {"id": i, "public": b64(bytes(32))} for i in range(limits.MAX_PREKEYS_PER_UPLOAD + 1)
        ]
    }
    assert_problem(await bob.call(relay.http, "PUT", PREKEYS, payload), 422, "malformed-body")


async def test_a_claim_hands_out_a_verifiable_bundle_and_consumes_one_time_keys(
    relay: Relay,
) -> None:
    bob = await BareDevice().register(relay.http)
    alice = await BareDevice().register(relay.http)
    payload = bob.prekeys(one_time=1, kem_one_time=1)
    await upload(relay, bob, payload)

    first = (await alice.call(relay.http, "POST", CLAIM, {"address": bob.address})).json()
    assert first["address"] == bob.address
    assert first["account_key"] == b64(bob.account_key.public)
    assert first["device_list"] == b64(bob.device_list())
    (bundle,) = first["bundles"]
    assert bundle["device_id"] == 1
    identity = PublicIdentity.from_bytes(base64.b64decode(bundle["identity"]))
    assert identity == bob.identity
    assert bundle["one_time_prekey"] == payload["one_time_prekeys"][0]
    kem = bundle["kem_prekey"]
    assert kem["last_resort"] is False
    assert kem["id"] == payload["kem_one_time_prekeys"][0]["id"]
    spk = bundle["signed_prekey"]
    verify_prekey_signature(
        identity,
        PrekeyKind.SIGNED_EC,
        spk["id"],
        base64.b64decode(spk["public"]),
        base64.b64decode(spk["signature"]),
    )

    # The one-time keys are gone: the next claim gets none and the last-resort KEM key.
    (second,) = (await alice.call(relay.http, "POST", CLAIM, {"address": bob.address})).json()[
        "bundles"
    ]
    assert second["one_time_prekey"] is None
    assert second["kem_prekey"]["last_resort"] is True
    assert second["kem_prekey"]["id"] == payload["kem_last_resort"]["id"]
    status = (await bob.call(relay.http, "GET", PREKEYS)).json()
    assert (status["one_time_prekeys"], status["kem_one_time_prekeys"]) == (0, 0)


async def test_a_device_without_signed_prekeys_has_no_bundle(relay: Relay) -> None:
    bob = await BareDevice().register(relay.http)
    alice = await BareDevice().register(relay.http)
    answer = (await alice.call(relay.http, "POST", CLAIM, {"address": bob.address})).json()
    assert answer["bundles"] == []
    missing = await alice.call(relay.http, "POST", CLAIM, {"address": "nobody@chat"})
    assert_problem(missing, 404, "unknown-account")


async def test_prekeys_low_follows_the_watermark(relay: Relay) -> None:
    bob = await BareDevice().register(relay.http)
    low = limits.PREKEY_LOW_WATERMARK

    async def prekeys_low() -> bool:
        page = (await bob.call(relay.http, "GET", MESSAGES)).json()
        return bool(page["prekeys_low"])

    assert await prekeys_low()
    await upload(relay, bob, bob.prekeys(one_time=low, kem_one_time=low - 1))
    assert await prekeys_low()  # one kind below the watermark is enough
    await upload(relay, bob, bob.prekeys(kem_one_time=1, with_signed=False))
    assert not await prekeys_low()
    alice = await BareDevice().register(relay.http)
    await alice.call(relay.http, "POST", CLAIM, {"address": bob.address})
    assert await prekeys_low()
