"""PUT/GET /v1/devices/self/prekeys: only keys the device's identity signed are kept."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import generate_kem_prekeys, generate_signed_prekey
from sottovoce.server import limits
from tests.relay.device import Device, assert_problem
from tests.support.api_device import b64

EMPTY = {
    "one_time_prekeys": 0,
    "kem_one_time_prekeys": 0,
    "signed_prekey_id": None,
    "kem_last_resort_id": None,
}


@pytest.fixture
async def device(relay: httpx.AsyncClient) -> Device:
    return await Device(relay, "bob").register()


async def status(device: Device) -> dict[str, Any]:
    response = await device.call("GET", "/v1/devices/self/prekeys")
    assert response.status_code == 200, response.text
    return dict(response.json())


def flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return b64(bytes(raw))


async def test_a_new_device_holds_nothing_and_is_low(device: Device) -> None:
    assert await status(device) == EMPTY
    assert (await device.fetch())["prekeys_low"] is True


async def test_uploads_are_counted_and_accumulate(device: Device) -> None:
    response = await device.upload(device.prekeys(one_time=7, kem_one_time=5))
    assert response.json() == {"one_time_prekeys": 7, "kem_one_time_prekeys": 5}
    response = await device.upload(
        device.prekeys(one_time=3, kem_one_time=4, first_id=100, signed=False, last_resort=False)
    )
    assert response.json() == {"one_time_prekeys": 10, "kem_one_time_prekeys": 9}
    assert await status(device) == {
        "one_time_prekeys": 10,
        "kem_one_time_prekeys": 9,
        "signed_prekey_id": 1,
        "kem_last_resort_id": 1,
    }


async def test_a_new_signed_prekey_replaces_the_old_one(device: Device) -> None:
    await device.stock(1)
    replacement = device.prekeys(first_id=42)
    assert (await device.upload(replacement)).status_code == 200
    held = await status(device)
    assert (held["signed_prekey_id"], held["kem_last_resort_id"]) == (42, 42)
    assert (held["one_time_prekeys"], held["kem_one_time_prekeys"]) == (1, 1)


def _signed_by_stranger(device: Device) -> dict[str, Any]:
    body = device.prekeys()
    stranger = IdentityKeyPair.generate()
    spk = generate_signed_prekey(stranger, 1)
    body["signed_prekey"] = {"id": 1, "public": b64(spk.public), "signature": b64(spk.signature)}
    return body


def _id_changed_after_signing(device: Device) -> dict[str, Any]:
    body = device.prekeys()
    body["signed_prekey"]["id"] = 2
    return body


def _one_time_signature_as_last_resort(device: Device) -> dict[str, Any]:
    body = device.prekeys()
    (one_time,) = generate_kem_prekeys(device.identity, 1, 1)
    body["kem_last_resort"] = {
        "id": 1,
        "public": b64(one_time.public),
        "signature": b64(one_time.signature),
    }
    return body


def _last_resort_signature_as_one_time(device: Device) -> dict[str, Any]:
    body = device.prekeys()
    body["kem_one_time_prekeys"] = [dict(body["kem_last_resort"])]
    return body


def _one_bad_key_in_a_batch(device: Device) -> dict[str, Any]:
    body = device.prekeys(one_time=5, kem_one_time=5)
    body["kem_one_time_prekeys"][3]["signature"] = flip(
        body["kem_one_time_prekeys"][3]["signature"]
    )
    return body


def _short_signature(device: Device) -> dict[str, Any]:
    body = device.prekeys()
    body["signed_prekey"]["signature"] = b64(b"\x00" * 10)
    return body


def _public_key_swapped(device: Device) -> dict[str, Any]:
    body = device.prekeys()
    body["signed_prekey"]["public"] = flip(body["signed_prekey"]["public"])
    return body


@pytest.mark.parametrize(
    "make",
    [
        _signed_by_stranger,
        _id_changed_after_signing,
        _one_time_signature_as_last_resort,
        _last_resort_signature_as_one_time,
        _one_bad_key_in_a_batch,
        _short_signature,
        _public_key_swapped,
    ],
)
async def test_bad_signatures_are_refused_and_nothing_is_stored(device: Device, make: Any) -> None:
    assert_problem(await device.upload(make(device)), 400, "bad-prekey-signature")
    assert await status(device) == EMPTY


def _short(text: str, by: int = 1) -> str:
    return b64(base64.b64decode(text)[:-by])


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("signed_prekey", lambda k: {**k, "public": _short(k["public"])}),
        ("signed_prekey", lambda k: {**k, "public": b64(base64.b64decode(k["public"]) + b"\0")}),
        ("kem_last_resort", lambda k: {**k, "public": _short(k["public"])}),
        ("kem_last_resort", lambda k: {**k, "public": b64(b"")}),
    ],
)
async def test_signed_keys_of_the_wrong_length_are_refused(
    device: Device, where: str, change: Any
) -> None:
    body = device.prekeys()
    body[where] = change(body[where])
    problem = assert_problem(await device.upload(body), 400, "bad-prekey")
    assert where in problem["detail"]
    assert await status(device) == EMPTY


async def test_one_time_keys_of_the_wrong_length_are_refused(device: Device) -> None:
    body = device.prekeys(one_time=3, kem_one_time=3)
    body["one_time_prekeys"][2]["public"] = _short(body["one_time_prekeys"][2]["public"])
    problem = assert_problem(await device.upload(body), 400, "bad-prekey")
    assert "one_time_prekeys[2]" in problem["detail"]
    body = device.prekeys(one_time=3, kem_one_time=3)
    body["kem_one_time_prekeys"][1]["public"] = _short(body["kem_one_time_prekeys"][1]["public"])
    problem = assert_problem(await device.upload(body), 400, "bad-prekey")
    assert "kem_one_time_prekeys[1]" in problem["detail"]
    assert await status(device) == EMPTY


@pytest.mark.parametrize("kind", ["one_time_prekeys", "kem_one_time_prekeys"])
async def test_duplicate_ids_in_one_upload_are_refused(device: Device, kind: str) -> None:
    body = device.prekeys(one_time=3, kem_one_time=3)
    body[kind].append(dict(body[kind][0]))
    problem = assert_problem(await device.upload(body), 400, "duplicate-prekey")
    assert kind in problem["detail"]
    assert await status(device) == EMPTY


async def test_reusing_a_held_id_is_refused_and_the_whole_upload_undone(device: Device) -> None:
    await device.stock(3)
    before = await status(device)
    # A new signed prekey rides along: it must not be kept when the upload fails.
    again = device.prekeys(one_time=2, kem_one_time=0, first_id=3)
    again["signed_prekey"] = device.prekeys(first_id=9)["signed_prekey"]
    assert_problem(await device.upload(again), 409, "duplicate-prekey")
    assert await status(device) == before


async def test_the_same_id_may_be_used_by_each_kind_and_by_each_device(
    relay: httpx.AsyncClient, device: Device
) -> None:
    other = await Device(relay, "carol").register()
    await device.stock(4)
    await other.stock(4)
    assert (await status(device))["one_time_prekeys"] == 4
    assert (await status(other))["kem_one_time_prekeys"] == 4


async def test_an_upload_is_capped(device: Device) -> None:
    body = device.prekeys(one_time=limits.MAX_PREKEYS_PER_UPLOAD + 1, last_resort=False)
    problem = assert_problem(await device.upload(body), 422, "malformed-body")
    assert "one_time_prekeys" in problem["detail"]


async def test_a_device_holds_a_bounded_number_of_prekeys(device: Device) -> None:
    batch = limits.MAX_PREKEYS_PER_UPLOAD
    for i in range(limits.MAX_PREKEYS_HELD // batch):
        body = device.prekeys(
            one_time=batch, first_id=1 + i * batch, signed=False, last_resort=False
        )
        assert (await device.upload(body)).status_code == 200
    one_more = device.prekeys(one_time=1, first_id=limits.MAX_PREKEYS_HELD + 1)
    assert_problem(await device.upload(one_more), 400, "too-many-prekeys")
    assert (await status(device))["one_time_prekeys"] == limits.MAX_PREKEYS_HELD


@pytest.mark.parametrize("key_id", [-1, 2**32, 2**70])
async def test_key_ids_out_of_range_are_refused(device: Device, key_id: int) -> None:
    body = device.prekeys(one_time=1)
    body["one_time_prekeys"][0]["id"] = key_id
    assert_problem(await device.upload(body), 422, "malformed-body")


async def test_prekeys_low_follows_the_watermark(relay: httpx.AsyncClient, device: Device) -> None:
    mark = limits.PREKEY_LOW_WATERMARK
    await device.stock(mark, mark - 1)
    assert (await device.fetch())["prekeys_low"] is True  # the KEM kind is short
    extra = device.prekeys(kem_one_time=1, first_id=mark, signed=False, last_resort=False)
    assert (await device.upload(extra)).status_code == 200
    assert (await device.fetch())["prekeys_low"] is False
    claimer = await Device(relay, "alice").register()
    assert (await claimer.claim(device.address)).status_code == 200
    assert (await device.fetch())["prekeys_low"] is True
