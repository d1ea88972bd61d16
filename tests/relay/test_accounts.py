"""POST /v1/accounts: names, proof of possession, and the signed device list."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList, parse_device_list
from tests.relay.device import Device, assert_problem
from tests.support.api_device import b64, signed_headers

ACCOUNTS = "/v1/accounts"


def with_device_list(
    device: Device, devices: DeviceList, key: SigningKey | None = None
) -> dict[str, str]:
    return {**device.registration(), "device_list": b64(devices.sign(key or device.account_key))}


async def post_signed(
    http: httpx.AsyncClient,
    payload: dict[str, Any],
    *,
    key: SigningKey,
    address: str,
    device_id: int = 1,
    sign_body: bytes | None = None,
) -> httpx.Response:
    """POST /v1/accounts with a header made by ``key`` as ``address``/``device_id``,
    over ``sign_body`` instead of the real body if given."""
    body = json.dumps(payload).encode()
    headers = signed_headers(
        key,
        address,
        "POST",
        ACCOUNTS,
        body if sign_body is None else sign_body,
        device_id=device_id,
    )
    return await http.post(ACCOUNTS, content=body, headers=headers)


async def test_registration_publishes_the_signed_keys(relay: httpx.AsyncClient) -> None:
    alice = await Device(relay, "alice").register()
    bob = await Device(relay, "bob", "photos").register()
    view = await bob.call("GET", f"/v1/accounts/chat/{alice.handle}")
    assert view.status_code == 200, view.text
    answer = view.json()
    assert answer["address"] == alice.address
    assert base64.b64decode(answer["account_key"]) == alice.account_key.public
    devices = parse_device_list(base64.b64decode(answer["device_list"]), alice.account_key.public)
    assert devices.version == 1
    assert [(d.device_id, d.identity) for d in devices.devices] == [(1, alice.identity.public)]


async def test_public_endpoints_need_no_signature(relay: httpx.AsyncClient) -> None:
    assert (await relay.get("/healthz")).json() == {"status": "ok"}
    assert (await relay.get("/v1/apps")).json() == {"apps": ["chat", "photos"]}


async def test_account_lookups_are_authenticated_and_name_unknown_accounts(
    relay: httpx.AsyncClient,
) -> None:
    alice = await Device(relay, "alice").register()
    assert_problem(await relay.get(f"/v1/accounts/chat/{alice.handle}"), 401, "unauthenticated")
    assert_problem(await alice.call("GET", "/v1/accounts/chat/nobody"), 404, "unknown-account")
    # The same handle in another app is another account.
    assert_problem(
        await alice.call("GET", f"/v1/accounts/photos/{alice.handle}"), 404, "unknown-account"
    )


@pytest.mark.parametrize(
    "handle", ["Alice", ".alice", "-alice", "al ice", "al@ice", "al/ice", "alice!", ""]
)
async def test_bad_handles_are_refused(relay: httpx.AsyncClient, handle: str) -> None:
    device = Device(relay)
    device.handle, device.address = handle, f"{handle}@chat"
    assert_problem(await device.call("POST", ACCOUNTS, device.registration()), 400, "bad-handle")


async def test_an_overlong_handle_is_refused(relay: httpx.AsyncClient) -> None:
    device = Device(relay)
    device.handle = "a" * 33
    device.address = f"{device.handle}@chat"
    problem = assert_problem(await device.call("POST", ACCOUNTS, device.registration()), 422)
    assert "handle" in problem["detail"]


@pytest.mark.parametrize("app", ["music", "Chat", "chat ", "photos2"])
async def test_unknown_apps_are_refused(relay: httpx.AsyncClient, app: str) -> None:
    device = Device(relay, "carol", app)
    assert_problem(await device.call("POST", ACCOUNTS, device.registration()), 404, "unknown-app")


async def test_a_taken_handle_is_a_conflict_and_the_owner_keeps_it(
    relay: httpx.AsyncClient,
) -> None:
    owner = await Device(relay, "alice").register()
    squatter = Device(relay)
    squatter.handle, squatter.address = owner.handle, owner.address
    assert_problem(
        await squatter.call("POST", ACCOUNTS, squatter.registration()), 409, "handle-taken"
    )
    view = (await owner.call("GET", f"/v1/accounts/chat/{owner.handle}")).json()
    assert base64.b64decode(view["account_key"]) == owner.account_key.public
    # The owner's device still authenticates; the squatter's does not.
    assert (await owner.call("GET", "/v1/devices/self/prekeys")).status_code == 200
    assert_problem(await squatter.call("GET", "/v1/devices/self/prekeys"), 401, "bad-signature")
    # The same handle in another app is free.
    other_app = Device(relay, app="photos")
    other_app.handle, other_app.address = owner.handle, f"{owner.handle}@photos"
    await other_app.register()


async def test_a_device_list_signed_by_another_key_is_refused(relay: httpx.AsyncClient) -> None:
    device = Device(relay, "mallory")
    devices = DeviceList(device.address, 1, (DeviceEntry(1, device.identity.public, 0),))
    payload = with_device_list(device, devices, SigningKey.generate())
    assert_problem(await device.call("POST", ACCOUNTS, payload), 400, "bad-keys")
    signed = bytearray(devices.sign(device.account_key))
    signed[-1] ^= 1
    payload = {**device.registration(), "device_list": b64(bytes(signed))}
    assert_problem(await device.call("POST", ACCOUNTS, payload), 400, "bad-keys")
    await device.register()


@pytest.mark.parametrize(
    "case", ["other identity", "other address", "version 2", "two devices", "device 2 only"]
)
async def test_a_device_list_that_does_not_describe_the_new_account_is_refused(
    relay: httpx.AsyncClient, case: str
) -> None:
    device = Device(relay, "mallory")
    own = DeviceEntry(1, device.identity.public, 0)
    stranger = IdentityKeyPair.generate().public
    devices = {
        "other identity": DeviceList(device.address, 1, (DeviceEntry(1, stranger, 0),)),
        "other address": DeviceList("victim@chat", 1, (own,)),
        "version 2": DeviceList(device.address, 2, (own,)),
        "two devices": DeviceList(device.address, 1, (own, DeviceEntry(2, stranger, 0))),
        "device 2 only": DeviceList(
            device.address, 1, (DeviceEntry(2, device.identity.public, 0),)
        ),
    }[case]
    payload = with_device_list(device, devices)
    assert_problem(await device.call("POST", ACCOUNTS, payload), 400, "bad-device-list")
    await device.register()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_key", b"\x01" * 31),
        ("account_key", b""),
        ("identity", b"\x01" * 128),
        ("identity", b"\x02" + b"\x00" * 128),
        ("device_list", b"SVDL"),
    ],
)
async def test_malformed_keys_are_refused(
    relay: httpx.AsyncClient, field: str, value: bytes
) -> None:
    device = Device(relay)
    payload = {**device.registration(), field: b64(value)}
    assert_problem(await device.call("POST", ACCOUNTS, payload), 400)


async def test_creation_must_be_signed_by_the_registered_identity(
    relay: httpx.AsyncClient,
) -> None:
    device = Device(relay, "alice")
    payload = device.registration()
    body = json.dumps(payload).encode()
    unsigned = await relay.post(
        ACCOUNTS, content=body, headers={"content-type": "application/json"}
    )
    assert_problem(unsigned, 401, "unauthenticated")

    other_key = IdentityKeyPair.generate().signing_key
    forged = await post_signed(relay, payload, key=other_key, address=device.address)
    assert_problem(forged, 401, "bad-signature")
    # The signature must cover this exact body.
    other_body = await post_signed(
        relay, payload, key=device.identity.signing_key, address=device.address, sign_body=b"{}"
    )
    assert_problem(other_body, 401, "bad-signature")
    # Signed as another address or as a later device: refused before any signature check.
    for address, device_id in (("victim@chat", 1), (device.address, 2)):
        response = await post_signed(
            relay,
            payload,
            key=device.identity.signing_key,
            address=address,
            device_id=device_id,
        )
        assert_problem(response, 401, "unauthenticated")
    # None of the refusals stored anything: the handle is still free.
    await device.register()
