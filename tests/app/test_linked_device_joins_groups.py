"""A newly linked device joins the account's groups at once, as in WhatsApp and
Signal: once it has uploaded its KeyPackages it tells the account's other devices
(``sync_content.DeviceReadySync``), and whichever is online adds it to every group.
Before, a device linked from the app joined only when the app next reconnected,
because the linker's follow ran only on a fetch or a (re)connection and the new
device's KeyPackages were not on the server yet when it was linked.

Real server process; the first test links from the real app process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.sync_content import DeviceReadySync, decode_sync
from tests.app.app_process import AppProcess
from tests.support.live_server import LiveServer
from tests.support.people import FAST_ARGON2, link, two_people

WAIT_S = 30.0
GROUP = "plans"
# Long enough for a device to have caught up and be on its live connection, so its
# own (re)connection cannot be what adds the new device.
SETTLE_S = 2.0
PASSPHRASE = "p"  # two_people's


@pytest.fixture
async def group_of_two(
    app_server: LiveServer, tmp_path: Path
) -> AsyncIterator[tuple[Client, Client]]:
    """Alice (her phone) and Bob in Alice's group ``plans``."""
    async with two_people(app_server.url, tmp_path) as (alice, bob):
        bob.set_group_invites_from_anyone(True)  # not a group request (tests/safety)
        await alice.groups.create(GROUP)
        await alice.groups.add(GROUP, bob.address)
        await bob.fetch()
        assert [g.name for g in bob.groups.all()] == [GROUP]
        yield alice, bob


async def _in_the_group(device: Client) -> None:
    """Until ``device`` has joined ``GROUP`` (fetching what reaches it), for WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while GROUP not in [g.name for g in device.groups.all()]:
        assert time.monotonic() < deadline, "the new device was not added to the group"
        await device.fetch()
        await asyncio.sleep(0.2)


async def _hears(device: Client, sender: Client, text: str) -> None:
    await sender.groups.send(GROUP, text)
    deadline = time.monotonic() + WAIT_S
    while text not in [m.text for m in device.groups.history(GROUP)]:
        assert time.monotonic() < deadline, f"{text!r} did not reach the new device"
        await device.fetch()
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def listening(client: Client) -> AsyncIterator[None]:
    """``client`` on its live connection for the block, like the app's process."""

    async def run() -> None:
        async for _ in client.listen():
            pass

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_device_linked_in_the_app_joins_its_groups_at_once(
    group_of_two: tuple[Client, Client], app_server: LiveServer, tmp_path: Path
) -> None:
    phone, bob = group_of_two
    profile = phone._store.directory
    await phone.close()  # the app opens the phone's profile
    app = AppProcess(profile, app_server.url, tmp_path / "app.log")
    app.start()
    laptop: Client | None = None
    try:
        await bob.send(phone.address, "are you there?")
        with app.signed_in(PASSPHRASE) as http:
            # The app has fetched (Bob's message shows) and is on its live connection.
            deadline = time.monotonic() + WAIT_S
            while not (await asyncio.to_thread(http.get, "/api/conversations")).json()["requests"]:
                assert time.monotonic() < deadline, "the app did not fetch"
                await asyncio.sleep(0.2)
            await asyncio.sleep(SETTLE_S)
            pending = await Client.begin_link(app_server.url)
            finishing = asyncio.create_task(
                Client.finish_link(pending, tmp_path / "laptop", app_server.url)
            )
            linked = await asyncio.to_thread(
                http.post, "/api/devices/link", json={"code": pending.code_text}
            )
            assert linked.status_code == 200, linked.text
            laptop = await finishing
            await _in_the_group(laptop)
            await bob.fetch()  # the commit that added the laptop
            await _hears(laptop, bob, "hello, laptop")
            devices = await asyncio.to_thread(http.get, "/api/devices")
            assert [d["id"] for d in devices.json()["devices"]] == [1, 2]
    finally:
        app.stop()
        if laptop is not None:
            await laptop.close()


async def test_a_live_device_adds_it_when_the_linking_one_went_offline(
    group_of_two: tuple[Client, Client], app_server: LiveServer, tmp_path: Path
) -> None:
    """The phone links the laptop and goes away (a `sottovoce device accept` that
    exits); the tablet, on its live connection, adds the laptop to the group."""
    phone, bob = group_of_two
    tablet = await link(phone, tmp_path / "tablet", app_server.url)
    laptop: Client | None = None
    try:
        await phone.fetch()  # adds the tablet
        await tablet.fetch()  # joins
        assert [g.name for g in tablet.groups.all()] == [GROUP]
        async with listening(tablet):
            await asyncio.sleep(SETTLE_S)
            pending = await Client.begin_link(app_server.url)
            finishing = asyncio.create_task(
                Client.finish_link(pending, tmp_path / "laptop", app_server.url, argon2=FAST_ARGON2)
            )
            await phone.accept_link(pending.code_text)
            laptop = await finishing
            await _in_the_group(laptop)
        await bob.fetch()
        await _hears(laptop, bob, "hello, laptop")
    finally:
        await tablet.close()
        if laptop is not None:
            await laptop.close()


def test_the_ready_message_round_trips() -> None:
    ready = DeviceReadySync("ready-1")
    assert decode_sync(ready.encode()) == ready
    assert b'"kind":"device-ready"' in ready.encode()
