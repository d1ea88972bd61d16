"""The server's side of key transparency and device lists, over its HTTP API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ServerError
from sottovoce.client.server_json import b64, unb64
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.protocol.public.merkle import ConsistencyProof, InclusionProof
from sottovoce.protocol.public.transparency_entry import (
    AccountKeyEntry,
    DeviceListEntry,
    parse_entry,
    verify_account_commitment,
)
from sottovoce.protocol.public.tree_head import parse_signed_tree_head, verify_consistent_heads
from tests.support.live_server import LiveServer
from tests.support.people import MakeClient

# Ten epochs: a head that takes longer is lost, not late.
NEW_HEAD_TIMEOUT_S = 30.0


async def view_of(viewer: Client, who: Client) -> dict[str, object]:
    handle, app = who.address.split("@")
    return await viewer._transport.request("GET", f"/v1/accounts/{app}/{handle}")


async def test_every_lookup_carries_entries_proven_in_a_signed_head(
    make_client: MakeClient, devices_server: LiveServer
) -> None:
    alice, bob = await make_client("alice"), await make_client("bob", "photos")
    view = await view_of(alice, bob)
    tv = view["transparency"]
    assert isinstance(tv, dict)
    log_key = unb64(httpx.get(f"{devices_server.url}/v1/transparency/head").json()["log_key"])
    head = parse_signed_tree_head(unb64(tv["head"]), log_key)
    entries = []
    for name in ("account_key", "device_list"):
        leaf = unb64(tv[name]["entry"])
        head.verify_inclusion(leaf, InclusionProof.from_bytes(unb64(tv[name]["proof"])))
        entries.append(parse_entry(leaf))
    key_entry, list_entry = entries
    assert isinstance(key_entry, AccountKeyEntry) and isinstance(list_entry, DeviceListEntry)
    verify_account_commitment(key_entry.account, bob.address, unb64(tv["salt"]))
    assert key_entry.account_key == unb64(str(view["account_key"]))
    list_entry.verify_device_list(unb64(str(view["device_list"])))
    # The log names accounts by commitment only: no handle appears in it.
    raw = httpx.get(
        f"{devices_server.url}/v1/transparency/entries", params={"start": 0, "end": head.tree_size}
    ).json()
    assert all(bob.address.encode() not in unb64(e) for e in raw["entries"])


async def test_heads_are_consistent_over_time_and_bad_ranges_are_refused(
    make_client: MakeClient, devices_server: LiveServer
) -> None:
    url = devices_server.url
    first = httpx.get(f"{url}/v1/transparency/head").json()
    key = unb64(first["log_key"])
    old = parse_signed_tree_head(unb64(first["head"]), key)
    await make_client("carol")
    # The server signs a head once an epoch (limits.TRANSPARENCY_EPOCH_S): wait for the
    # first that holds carol's entries, however loaded the machine.
    deadline = time.monotonic() + NEW_HEAD_TIMEOUT_S
    while True:
        second = httpx.get(f"{url}/v1/transparency/head").json()
        new = parse_signed_tree_head(unb64(second["head"]), key)
        if new.tree_size > old.tree_size:
            break
        assert time.monotonic() < deadline, f"no head after epoch {new.epoch} holds carol"
        await asyncio.sleep(0.2)
    assert new.epoch > old.epoch
    proof = httpx.get(
        f"{url}/v1/transparency/consistency",
        params={"first": old.tree_size, "second": new.tree_size},
    ).json()
    verify_consistent_heads(old, new, ConsistencyProof.from_bytes(unb64(proof["proof"])))
    assert httpx.get(f"{url}/v1/transparency/head", params={"epoch": old.epoch}).json() == first
    for params in ({"first": 5, "second": 2}, {"first": 0, "second": 10**9}):
        response = httpx.get(f"{url}/v1/transparency/consistency", params=params)
        assert response.status_code == 400 and response.json()["type"] == "bad-range"
    response = httpx.get(f"{url}/v1/transparency/entries", params={"start": 3, "end": 1})
    assert response.status_code == 400
    response = httpx.get(f"{url}/v1/transparency/head", params={"epoch": 10**12})
    assert response.status_code == 404 and response.json()["type"] == "unknown-epoch"


async def test_the_log_survives_a_restart_and_keeps_its_key(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "relay")
    (tmp_path / "relay").mkdir()
    server.start()
    try:
        client = await Client.create_account(tmp_path / "a", server.url, "chat", "restart-a")
        before = httpx.get(f"{server.url}/v1/transparency/head").json()
        server.stop()
        server.start()
        after = httpx.get(f"{server.url}/v1/transparency/head").json()
        assert after == before  # same key, same latest head, nothing re-signed
        await Client.create_account(tmp_path / "b", server.url, "chat", "restart-b")
        await client.fetch()  # follows the log across the restart: consistent
        assert client.security_alerts() == []
        kept = client._kt.heads()  # every head verified, kept as evidence
        assert kept[-1] == client._kt.latest_head()
        assert [h.epoch for h in kept] == sorted({h.epoch for h in kept})
        await client.close()
    finally:
        server.stop()


async def test_device_lists_are_accepted_only_signed_and_newer(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    current = alice._own.held()
    assert current is not None
    newcomer = DeviceEntry(2, IdentityKeyPair.generate().public, 0)

    async def publish(devices: DeviceList, key: SigningKey) -> None:
        await alice._transport.request(
            "PUT", "/v1/accounts/self/device-list", {"device_list": b64(devices.sign(key))}
        )

    cases = [
        (DeviceList(alice.address, 2, (*current.devices, newcomer)), SigningKey.generate(), 400),
        (DeviceList(alice.address, 1, (*current.devices, newcomer)), alice._account_key, 409),
        (DeviceList(alice.address, 2, ()), alice._account_key, 400),
        (
            DeviceList(alice.address, 2, (DeviceEntry(1, newcomer.identity, 0),)),
            alice._account_key,
            400,
        ),
        (DeviceList("mallory@chat", 2, current.devices), alice._account_key, 400),
    ]
    for devices, key, status in cases:
        with pytest.raises(ServerError) as refused:
            await publish(devices, key)
        assert refused.value.status == status
    assert [d.device_id for d in await alice.devices()] == [1]


async def test_provisioning_channels_are_one_time(devices_server: LiveServer) -> None:
    url = devices_server.url
    channel = httpx.post(f"{url}/v1/provisioning").json()["channel"]
    assert httpx.get(f"{url}/v1/provisioning/nonexistent").status_code == 404
    response = httpx.put(f"{url}/v1/provisioning/{channel}", json={"message": "AAAA"})
    assert response.status_code == 401  # only a device of an account may answer a code
