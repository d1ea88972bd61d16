"""Account creation: names, proof of possession, the first signed device list."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.storage.schema import accounts, devices
from tests.server.conftest import Relay
from tests.support.device import ACCOUNTS, BareDevice, assert_problem, b64


async def test_a_new_account_is_device_1_and_can_be_looked_up(relay: Relay) -> None:
    alice = BareDevice()
    response = await alice.call(relay.http, "POST", ACCOUNTS, alice.registration())
    assert response.status_code == 201
    assert response.json() == {"address": alice.address, "device_id": 1}

    bob = await BareDevice(app="photos").register(relay.http)
    view = (await bob.call(relay.http, "GET", f"/v1/accounts/chat/{alice.handle}")).json()
    # The log's proofs ride along (tests/devices/test_transparency_api.py checks them).
    assert view.pop("transparency").keys() == {"salt", "head", "account_key", "device_list"}
    assert view == {
        "address": alice.address,
        "account_key": b64(alice.account_key.public),
        "device_list": b64(alice.device_list()),
    }


async def test_an_unknown_account_is_404(relay: Relay) -> None:
    alice = await BareDevice().register(relay.http)
    response = await alice.call(relay.http, "GET", "/v1/accounts/chat/nobody")
    assert_problem(response, 404, "unknown-account")


@pytest.mark.parametrize(
    "handle", ["", "Alice", "-alice", "al ice", "a" * 33, "alice\n", "ålice", "alice@chat"]
)
async def test_a_bad_handle_is_refused(relay: Relay, handle: str) -> None:
    device = BareDevice()
    response = await device.call(relay.http, "POST", ACCOUNTS, device.registration(handle=handle))
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)


async def test_an_unknown_app_is_404(relay: Relay) -> None:
    device = BareDevice(app="games")
    response = await device.call(relay.http, "POST", ACCOUNTS, device.registration())
    assert_problem(response, 404, "unknown-app")


async def test_a_taken_handle_is_a_conflict_and_the_owner_keeps_it(relay: Relay) -> None:
    owner = await BareDevice().register(relay.http)
    squatter = BareDevice(owner.handle)
    response = await squatter.call(relay.http, "POST", ACCOUNTS, squatter.registration())
    assert_problem(response, 409, "handle-taken")
    view = (await owner.call(relay.http, "GET", f"/v1/accounts/chat/{owner.handle}")).json()
    assert view["account_key"] == b64(owner.account_key.public)
    # The same handle is free in another app.
    await BareDevice(owner.handle, app="photos").register(relay.http)


async def test_a_device_list_with_a_bad_signature_is_refused(relay: Relay) -> None:
    device = BareDevice()
    foreign = device.registration(device_list=b64(device.device_list(signer=SigningKey.generate())))
    problem = assert_problem(await device.call(relay.http, "POST", ACCOUNTS, foreign), 400)
    assert "signature" in problem["detail"]
    flipped = bytearray(device.device_list())
    flipped[-1] ^= 1
    tampered = device.registration(device_list=b64(bytes(flipped)))
    assert_problem(await device.call(relay.http, "POST", ACCOUNTS, tampered), 400)
    truncated = device.registration(device_list=b64(device.device_list()[:40]))
    problem = assert_problem(await device.call(relay.http, "POST", ACCOUNTS, truncated), 400)
    assert "truncated" in problem["detail"]
    # Nothing was stored: the handle is still free.
    await device.register(relay.http)


@pytest.mark.parametrize("case", ["version 2", "other address", "other identity", "two devices"])
async def test_a_device_list_that_does_not_describe_the_new_account_is_refused(
    relay: Relay, case: str
) -> None:
    device = BareDevice()
    other = BareDevice().identity
    own = DeviceEntry(1, device.identity, 0)
    devices = {
        "version 2": DeviceList(device.address, 2, (own,)),
        "other address": DeviceList("victim@chat", 1, (own,)),
        "other identity": DeviceList(device.address, 1, (DeviceEntry(1, other, 0),)),
        "two devices": DeviceList(device.address, 1, (own, DeviceEntry(2, other, 0))),
    }[case]
    payload = device.registration(device_list=b64(devices.sign(device.account_key)))
    assert_problem(await device.call(relay.http, "POST", ACCOUNTS, payload), 400, "bad-device-list")


async def test_creation_must_be_signed_by_the_identity_in_the_body(relay: Relay) -> None:
    device = BareDevice()
    payload = device.registration()
    unsigned = await relay.http.post(ACCOUNTS, json=payload)
    assert_problem(unsigned, 401, "unauthenticated")
    forged = await device.call(relay.http, "POST", ACCOUNTS, payload, signer=SigningKey.generate())
    assert_problem(forged, 401, "bad-signature")
    await device.register(relay.http)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_key", b64(b"\x01" * 31)),
        ("account_key", "not base64!"),
        ("identity", b64(b"\x01" * 129)),
        ("identity", b64(b"\x01" * 12)),
    ],
)
async def test_bad_keys_are_refused_naming_the_field(relay: Relay, field: str, value: str) -> None:
    device = BareDevice()
    payload = device.registration(**{field: value})
    problem = assert_problem(await device.call(relay.http, "POST", ACCOUNTS, payload), 400)
    assert field in problem["detail"]


async def test_the_server_keeps_days_not_times(relay: Relay) -> None:
    """Creation and last connection are whole days since the epoch (DESIGN.md)."""
    alice = await BareDevice().register(relay.http)
    await alice.call(relay.http, "GET", "/v1/devices/self/prekeys")
    async with relay.state.repo.engine.connect() as conn:
        row = (await conn.execute(select(devices.c.created_day, devices.c.last_seen_day))).one()
        (minor,) = (await conn.execute(select(accounts.c.is_minor))).one()
    today = int(time.time() // 86_400)
    assert tuple(row) == (today, today)
    assert minor is False
