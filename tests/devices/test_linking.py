"""Linking devices: every device of both sides gets every message; removal cuts off."""

from __future__ import annotations

import base64

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ClientError, ServerError
from tests.support.live_server import LiveServer
from tests.support.people import LinkDevice, MakeClient


async def texts(client: Client) -> list[str]:
    return [m.text for m in await client.fetch()]


async def test_a_linked_device_gets_the_account_and_its_contacts(
    make_client: MakeClient, link_device: LinkDevice
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "before linking")
    alice2 = await link_device(alice)
    assert alice2.address == alice.address
    assert alice2.device_id == 2
    ids = [d.device_id for d in await alice.devices()]
    assert ids == [1, 2]
    assert [d.device_id for d in await alice2.devices() if d.this_device] == [2]
    # The contact came over inside the provisioning message, already pinned.
    assert alice2._contacts.pinned_key(bob.address) == alice._contacts.pinned_key(bob.address)
    assert await texts(bob) == ["before linking"]


async def test_messages_reach_every_device_and_sent_copies_reach_the_senders_others(
    make_client: MakeClient, link_device: LinkDevice
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await bob.send(alice.address, "hi alice")  # bob pins alice's one-device list
    assert await texts(alice) == ["hi alice"]
    alice2 = await link_device(alice)
    bob2 = await link_device(bob)
    # bob's cached list of alice is stale: the server answers 409, bob refreshes, retries.
    await bob.send(alice.address, "to both of yours")
    assert await texts(alice) == ["to both of yours"]
    assert await texts(alice2) == ["to both of yours"]
    # bob's other device files the message as sent, and shows nothing as received.
    assert await texts(bob2) == []
    sent = bob2.history(alice.address)
    assert [(e.direction, e.text) for e in sent] == [("out", "to both of yours")]
    await alice2.send(bob.address, "from the new device")
    assert await texts(bob) == ["from the new device"]
    assert await texts(bob2) == ["from the new device"]
    assert await texts(alice) == []
    assert [e.text for e in alice.history(bob.address) if e.direction == "out"] == [
        "from the new device"
    ]


async def test_a_removed_device_can_no_longer_read_new_messages(
    make_client: MakeClient, link_device: LinkDevice
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    alice2 = await link_device(alice)
    await bob.send(alice.address, "both see this")
    assert await texts(alice2) == ["both see this"]
    await alice.remove_device(alice2.device_id)
    assert [d.device_id for d in await alice.devices()] == [1]
    await bob.send(alice.address, "only device 1")
    assert await texts(alice) == ["both see this", "only device 1"]
    # The server deleted device 2 and its queue; nobody encrypts to it any more.
    with pytest.raises(ServerError) as refused:
        await alice2.fetch()
    assert refused.value.status == 401
    bob_view = bob._contacts.device_list(alice.address)
    assert bob_view is not None and bob_view.device_ids() == {1}


async def test_a_device_cannot_remove_itself_or_an_unknown_device(
    make_client: MakeClient, link_device: LinkDevice
) -> None:
    alice = await make_client("alice")
    with pytest.raises(ClientError, match="cannot remove itself"):
        await alice.remove_device(1)
    with pytest.raises(ClientError, match="no device 7"):
        await alice.remove_device(7)


async def test_a_garbled_linking_code_is_refused(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    with pytest.raises(ClientError, match="not a valid linking code"):
        await alice.accept_link("sv-link:AAAA")


async def test_linking_leaves_no_account_key_on_the_server(
    make_client: MakeClient, link_device: LinkDevice, devices_server: LiveServer
) -> None:
    """The provisioning message carries the account key; the server only relays it
    sealed, so neither the key nor the new device's private identity is in any
    file the server wrote (its database, -wal, -shm, log), in any encoding."""
    if devices_server.db_url is not None:
        pytest.skip("the database is PostgreSQL's, not a file of this server")
    alice = await make_client("alice")
    laptop = await link_device(alice)
    secrets = [
        alice._account_key.private_bytes(),
        laptop._identity.to_bytes()[1:33],
        laptop._identity.to_bytes()[33:],
    ]
    files = [
        p
        for p in devices_server.directory.iterdir()
        if p.name.startswith(("server.db", "server.log"))
    ]
    assert files
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            for form in (secret, secret.hex().encode(), base64.b64encode(secret)[:40]):
                assert form not in data, path.name
    # The positive control: what the server does hold is found by the same search.
    public = laptop._identity.public.sign_public
    assert any(public in p.read_bytes() for p in files)
