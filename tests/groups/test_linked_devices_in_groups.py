"""A device linked after the account's groups were formed joins them by itself, and a
removed one leaves them: the account's existing device follows its signed device list
in every group (docs/groups.md, "Linked devices"). Being added shows as an event.
Real server process, members on two apps."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ClientError
from sottovoce.client.messages import ReceivedMessage
from sottovoce.mls.group.credentials import DeviceIdentity
from tests.support.live_server import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("linked-groups-relay"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def trio(server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client, Client]]:
    """alice@chat, bob@photos and carol@chat (her contacts) in the group ``trio``
    that alice made."""
    alice, bob, carol = [
        await Client.create_account(tmp_path / handle, server.url, app, handle)
        for handle, app in (
            (f"alice-{secrets.token_hex(3)}", "chat"),
            (f"bob-{secrets.token_hex(3)}", "photos"),
            (f"carol-{secrets.token_hex(3)}", "chat"),
        )
    ]
    try:
        # bob and carol wrote to alice first, so her invite is no message request.
        for member in (bob, carol):
            await member.send(alice.address, "hi alice")
        await alice.fetch()
        await alice.groups.create("trio")
        await alice.groups.add("trio", bob.address, carol.address)
        for member in (bob, carol):
            await member.fetch()
        yield alice, bob, carol
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def link(existing: Client, profile: Path) -> Client:
    pending = await Client.begin_link(existing.server_url)
    finishing = asyncio.create_task(Client.finish_link(pending, profile, existing.server_url))
    await existing.accept_link(pending.code_text)
    return await finishing


def texts(messages: list[ReceivedMessage]) -> list[tuple[str, str]]:
    return [(m.sender, m.text) for m in messages if m.event is None]


def member_devices(client: Client, name: str) -> set[str]:
    group_id = client.groups.info(name).group_id
    record = client.groups._load(group_id)
    assert record is not None
    return {bytes(m.identity).decode() for m in record.state.members()}


async def test_being_added_is_an_event_naming_the_group_and_who_added(
    trio: tuple[Client, Client, Client],
) -> None:
    alice, bob, _ = trio
    await bob.groups.create("pair")
    await bob.groups.add("pair", alice.address)
    (event,) = [m for m in await alice.fetch() if m.event is not None]
    assert event.event == "group-added" and event.group == "pair"
    assert event.sender == bob.address
    # alice never wrote to bob: the group is also a message request.
    assert event.text.startswith(f"you were added to pair by {bob.address}")
    # Shown once: the Welcome and the name are acknowledged.
    assert [m for m in await alice.fetch() if m.event is not None] == []


async def test_a_device_linked_later_joins_every_group_and_reads_on(
    trio: tuple[Client, Client, Client], tmp_path: Path
) -> None:
    alice, bob, carol = trio
    laptop = await link(alice, tmp_path / "alice-laptop")
    try:
        # alice's phone signed the list with the laptop in it; its next sync adds
        # the laptop (whose KeyPackages linking uploaded) to "trio".
        await alice.fetch()
        laptop_member = bytes(DeviceIdentity(alice.address, laptop.device_id)).decode()
        assert laptop_member in member_devices(alice, "trio")
        arrived = await laptop.fetch()
        (event,) = [m for m in arrived if m.event is not None]
        assert (event.group, event.text) == ("trio", f"you were added to trio by {alice.address}")
        info = laptop.groups.info("trio")
        assert info.members == tuple(sorted((alice.address, bob.address, carol.address)))
        # Later messages reach it, and the others read what it sends.
        await bob.fetch()
        await carol.fetch()
        await bob.groups.send("trio", "hello, all four devices")
        assert texts(await laptop.fetch()) == [(bob.address, "hello, all four devices")]
        assert texts(await alice.fetch()) == [(bob.address, "hello, all four devices")]
        await laptop.groups.send("trio", "from alice's laptop")
        for reader in (alice, bob, carol):
            got = texts(await reader.fetch())
            assert (alice.address, "from alice's laptop") in got
        # Nothing left to do: a second sync commits nothing.
        epoch = alice.groups.info("trio").epoch
        await alice.fetch()
        assert alice.groups.info("trio").epoch == epoch
    finally:
        await laptop.close()


async def test_a_removed_device_is_removed_from_every_group(
    trio: tuple[Client, Client, Client], tmp_path: Path
) -> None:
    alice, bob, carol = trio
    laptop = await link(alice, tmp_path / "alice-laptop")
    try:
        await alice.fetch()
        await laptop.fetch()
        for member in (bob, carol):
            await member.fetch()
        laptop_member = bytes(DeviceIdentity(alice.address, laptop.device_id)).decode()
        assert laptop_member in member_devices(bob, "trio")
        await alice.remove_device(laptop.device_id)
        assert laptop_member not in member_devices(alice, "trio")
        await bob.fetch()
        assert laptop_member not in member_devices(bob, "trio")
        await bob.groups.send("trio", "after the laptop left")
        assert texts(await alice.fetch()) == [(bob.address, "after the laptop left")]
        assert texts(await carol.fetch()) == [(bob.address, "after the laptop left")]
        # The removed device is gone from the server; the group's keys moved on
        # without it (the commit removed its leaf).
        with pytest.raises(ClientError):
            await laptop.fetch()
    finally:
        await laptop.close()


async def test_two_existing_devices_add_a_new_one_once(
    trio: tuple[Client, Client, Client], tmp_path: Path
) -> None:
    alice, bob, _ = trio
    tablet = await link(alice, tmp_path / "alice-tablet")
    laptop = None
    try:
        await alice.fetch()
        await tablet.fetch()
        laptop = await link(alice, tmp_path / "alice-laptop")
        # Whichever of alice's devices syncs first adds the laptop (the tablet if the
        # log already shows the new list to it); the other finds nothing to do.
        await tablet.fetch()
        await alice.fetch()
        await tablet.fetch()
        laptop_member = bytes(DeviceIdentity(alice.address, laptop.device_id)).decode()
        alice_devices = {f"{alice.address}/{d}" for d in (1, tablet.device_id, laptop.device_id)}
        for device in (alice, tablet):
            assert alice_devices <= member_devices(device, "trio")
        assert alice.groups.info("trio").epoch == tablet.groups.info("trio").epoch
        await laptop.fetch()
        assert laptop_member in member_devices(laptop, "trio")
        await bob.fetch()
        await bob.groups.send("trio", "to all of alice's devices")
        for device in (alice, tablet, laptop):
            assert texts(await device.fetch()) == [(bob.address, "to all of alice's devices")]
    finally:
        await tablet.close()
        if laptop is not None:
            await laptop.close()
