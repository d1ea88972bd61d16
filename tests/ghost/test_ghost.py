"""The ghost proposal, tried by a deliberately malicious server (``malicious_server``).

Each attack must end in a security alert on the device it targets, with nothing
encrypted to a device its owner did not sign. The server is the real one run as
a real process, lying only to the victim; everyone else sees the honest log.
"""

from __future__ import annotations

import asyncio

import pytest
from rich.console import Console

from sottovoce.cli.alerts import alert_box
from sottovoce.client import Client
from sottovoce.client.alerts import SecurityAlert
from tests.ghost.conftest import GhostServerProcess
from tests.support.people import LinkDevice, MakeClient


async def texts(client: Client) -> list[str]:
    return [m.text for m in await client.fetch()]


def kinds(client: Client) -> set[str]:
    return {a.kind for a in client.security_alerts()}


async def seen_on_sync(client: Client, kind: str, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while kind not in kinds(client):
        assert asyncio.get_running_loop().time() < deadline, f"no {kind} alert on {client}"
        await asyncio.sleep(0.2)
        await client.fetch()


def rendered(client: Client) -> str:
    console = Console(width=120, record=True)
    console.print(alert_box(client.security_alerts()))
    return console.export_text()


async def pair(make_client: MakeClient) -> tuple[Client, Client]:
    """alice and bob, who have talked once (alice follows the honest log so far)."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "hello bob")
    assert await texts(bob) == ["hello bob"]
    await alice.fetch()
    return alice, bob


@pytest.mark.parametrize("attack", ["unsigned-device", "forged-signature"])
async def test_a_ghost_device_in_the_recipients_list_is_refused_and_shown(
    ghost_server: GhostServerProcess, make_client: MakeClient, attack: str
) -> None:
    """(1) a device added without the recipient's signature; (2) with a signature by
    another key. The server insists (409) that alice must encrypt to it."""
    alice, bob = await pair(make_client)
    ghost_server.arm(attack, victim=alice.address, target=bob.address)
    with pytest.raises(SecurityAlert) as refused:
        await alice.send(bob.address, "for bob's eyes only")
    assert refused.value.alert.kind == "ghost-device"
    assert kinds(alice) == {"ghost-device"}
    assert "security alert" in rendered(alice)
    ghost_server.disarm()
    assert await texts(bob) == []  # nothing was sent at all, to anyone


async def test_a_ghost_device_is_refused_for_a_first_contact_too(
    ghost_server: GhostServerProcess, make_client: MakeClient
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    ghost_server.arm("unsigned-device", victim=alice.address, target=bob.address)
    with pytest.raises(SecurityAlert):
        await alice.send(bob.address, "first words")
    assert kinds(alice) == {"ghost-device"}


async def test_a_key_the_log_does_not_hold_is_refused(
    ghost_server: GhostServerProcess, make_client: MakeClient
) -> None:
    """(3) the server serves alice, who never met bob, a key of its own for bob: trust
    on first use alone would take it; the log's entry for bob says otherwise."""
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    ghost_server.arm("swapped-key", victim=alice.address, target=bob.address)
    with pytest.raises(SecurityAlert, match="not the one the log holds"):
        await alice.send(bob.address, "hello?")
    assert kinds(alice) == {"key-mismatch"}
    assert alice._contacts.pinned_key(bob.address) is None  # nothing was pinned
    ghost_server.disarm()
    await alice.send(bob.address, "hello, the real bob")
    assert await texts(bob) == ["hello, the real bob"]


async def test_a_forked_log_shown_to_the_sender_is_detected(
    ghost_server: GhostServerProcess, make_client: MakeClient
) -> None:
    """(4) the server signs, with its real log key, a head over a log of its own in
    which bob's key is the server's; bob and everyone else see the real log."""
    bob = await make_client("bob", "photos")
    alice = await make_client("alice")
    await alice.fetch()  # alice has followed the real log past bob's entries
    ghost_server.arm("forked-log", victim=alice.address, target=bob.address)
    with pytest.raises(SecurityAlert) as refused:
        await alice.send(bob.address, "hello bob")
    assert refused.value.alert.kind == "log-fork"
    assert "log-fork" in kinds(alice)
    await bob.fetch()
    assert kinds(bob) == set()  # bob's view is the honest one
    assert await texts(bob) == []


async def test_a_replayed_device_list_is_refused(
    ghost_server: GhostServerProcess, make_client: MakeClient, link_device: LinkDevice
) -> None:
    """(5) bob removed a device; the server serves carol, new to bob, the older list
    that still names it, with that list's genuine log proof."""
    bob = await make_client("bob", "photos")
    old_phone = await link_device(bob)
    await bob.remove_device(old_phone.device_id)
    carol = await make_client("carol")
    ghost_server.arm("replayed-list", victim=carol.address, target=bob.address)
    with pytest.raises(SecurityAlert, match="the log holds version 3"):
        await carol.send(bob.address, "to your current devices only")
    assert kinds(carol) == {"replay"}


async def test_a_removed_and_a_silently_readded_device_are_shown_to_the_owner(
    ghost_server: GhostServerProcess, make_client: MakeClient, link_device: LinkDevice
) -> None:
    bob = await make_client("bob", "photos")
    laptop = await link_device(bob)
    tablet = await link_device(bob)
    await seen_on_sync(laptop, "own-devices")  # the laptop sees the tablet arrive
    laptop.dismiss_alerts(laptop.security_alerts())
    await bob.remove_device(tablet.device_id)
    await seen_on_sync(laptop, "own-devices")
    (removed,) = laptop.security_alerts()
    assert (removed.kind, removed.detail) == (
        "own-devices",
        f"device list version 4: device {tablet.device_id} removed",
    )
    assert "your devices changed" in rendered(laptop)
    laptop.dismiss_alerts([removed])

    # The server puts the tablet back into bob's list and logs it, without bob's key.
    ghost_server.arm("readd-device", target=bob.address, device_id=tablet.device_id)
    # Within an epoch the change is in a signed head, and each device's next sync sees it.
    await seen_on_sync(laptop, "ghost-device")
    assert "your account key did not sign" in rendered(laptop)
    await seen_on_sync(bob, "ghost-device")
    # And no contact will encrypt to it: the list fails bob's signature.
    alice = await make_client("alice")
    with pytest.raises(SecurityAlert):
        await alice.send(bob.address, "hi bob")
    assert kinds(alice) == {"ghost-device"}
