"""Groups through the SDK and the real server process (``python -m sottovoce.server``):
members on different apps, concurrent commits rebased, offline members catching up,
removal, and recovery after an Update."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client import groups as groups_module
from sottovoce.client.errors import ClientError, SecurityError
from sottovoce.client.group_engine import EngineError, GroupState
from sottovoce.client.key_package_supply import PATH as KEY_PACKAGES
from sottovoce.client.key_package_supply import TARGET
from sottovoce.client.messages import ReceivedMessage
from sottovoce.mls.group import KeyPackageBundle
from sottovoce.mls.group.credentials import DeviceIdentity
from tests.support.live_server import LiveServer

APPS = ("chat", "photos")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("groups-relay"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def people(server: LiveServer, tmp_path: Path) -> AsyncIterator[Any]:
    """``await people(n)``: n new accounts, alternating between the apps."""
    made: list[Client] = []

    async def make(n: int) -> list[Client]:
        async def one(i: int) -> Client:
            app = APPS[i % len(APPS)]
            handle = f"m{i}-{secrets.token_hex(3)}"
            client = await Client.create_account(tmp_path / handle, server.url, app, handle)
            # Strangers add each other here: no message requests (tests/safety has those).
            client.set_group_invites_from_anyone(True)
            return client

        batch: list[Client] = []
        for start in range(0, n, 10):  # ten registrations at a time
            batch += await asyncio.gather(
                *(one(len(made) + i) for i in range(start, min(n, start + 10)))
            )
        made.extend(batch)
        return batch

    yield make
    for client in made:
        await client.close()


def group_texts(messages: list[ReceivedMessage], group: str) -> list[tuple[str, str]]:
    return [(m.sender, m.text) for m in messages if m.group == group and m.event is None]


def capture_application_messages(client: Client) -> list[bytes]:
    """The MLS application messages ``client`` posts from now on, as the server and
    anyone on the path see them."""
    sent: list[bytes] = []
    original = client._transport.request

    async def capture(method: str, path: str, payload: Any = None) -> dict[str, Any]:
        if payload is not None and payload.get("type") == "application":
            sent.append(base64.b64decode(payload["message"]))
        return await original(method, path, payload)

    client._transport.request = capture  # type: ignore[method-assign]
    return sent


def state_of(client: Client, name: str) -> bytes:
    """The serialized MLS state of a group as this device's store holds it (what an
    attacker who copied the device would have)."""
    groups = client.groups
    record = groups._by_name(name)
    return record.state.to_bytes()


async def test_two_members_on_different_apps_talk(people: Any) -> None:
    alice, bob = await people(2)
    assert alice.address.endswith("@chat") and bob.address.endswith("@photos")
    await alice.groups.create("family")
    info = await alice.groups.add("family", bob.address)
    assert info.members == tuple(sorted((alice.address, bob.address)))
    await alice.groups.send("family", "hello from chat")
    received = await bob.fetch()
    assert group_texts(received, "family") == [(alice.address, "hello from chat")]
    (listed,) = bob.groups.all()
    assert listed.name == "family" and listed.epoch == info.epoch
    await bob.groups.send("family", "hi from photos")
    assert group_texts(await alice.fetch(), "family") == [(bob.address, "hi from photos")]
    assert [(m.sender, m.text) for m in bob.groups.history("family")] == [
        (alice.address, "hello from chat"),
        (bob.address, "hi from photos"),
    ]


async def test_five_members_commit_concurrently_and_all_converge(people: Any) -> None:
    members = await people(5)
    creator = members[0]
    await creator.groups.create("team")
    await creator.groups.add("team", *(m.address for m in members[1:]))
    for member in members[1:]:
        await member.fetch()
    # Every member commits an Update at once: the server takes one per epoch, the
    # others rebase on it and try again until each got through.
    await asyncio.gather(*(m.groups.update("team") for m in members))
    for member in members:
        await member.fetch()
    epochs = {m.groups.info("team").epoch for m in members}
    assert epochs == {1 + len(members)}
    await asyncio.gather(*(m.groups.send("team", f"from {m.address}") for m in members))
    for member in members:
        got = group_texts(await member.fetch(), "team")
        expected = {(m.address, f"from {m.address}") for m in members if m is not member}
        assert set(got) == expected and len(got) == len(expected)


async def test_an_offline_member_catches_up_in_order(people: Any) -> None:
    alice, bob, carol, dave = await people(4)
    await alice.groups.create("club")
    await alice.groups.add("club", bob.address, carol.address)
    await bob.fetch()
    # Carol stays offline while the group changes under her: messages, an Update,
    # a new member, more messages.
    await alice.groups.send("club", "one")
    await bob.groups.update("club")
    await bob.groups.send("club", "two")
    await alice.fetch()
    await alice.groups.add("club", dave.address)
    await alice.groups.send("club", "three")
    got = group_texts(await carol.fetch(), "club")
    assert got == [(alice.address, "one"), (bob.address, "two"), (alice.address, "three")]
    assert carol.groups.info("club").members == tuple(
        sorted(c.address for c in (alice, bob, carol, dave))
    )
    await carol.groups.send("club", "back")
    assert group_texts(await dave.fetch(), "club") == [
        (alice.address, "three"),
        (carol.address, "back"),
    ]


async def test_a_removed_member_cannot_read_later_messages(people: Any) -> None:
    alice, bob, carol = await people(3)
    await alice.groups.create("book-club")
    await alice.groups.add("book-club", bob.address, carol.address)
    await bob.fetch()
    await carol.fetch()
    kept = state_of(bob, "book-club")
    await alice.groups.remove("book-club", bob.address)
    await bob.fetch()
    assert bob.groups.all() == []
    with pytest.raises(ClientError):
        await bob.groups.send("book-club", "still here?")
    sent = capture_application_messages(alice)
    await alice.groups.send("book-club", "after bob left")
    assert group_texts(await carol.fetch(), "book-club") == [(alice.address, "after bob left")]
    assert group_texts(await bob.fetch(), "book-club") == []
    # Even holding the ciphertext and the state bob had before his removal, it
    # cannot be opened: the commit that removed bob gave the group keys bob lacks.
    (ciphertext,) = sent
    with pytest.raises(EngineError):
        GroupState.from_bytes(kept).process(ciphertext)


async def test_a_compromised_member_recovers_after_an_update(people: Any) -> None:
    alice, bob = await people(2)
    await alice.groups.create("pcs")
    await alice.groups.add("pcs", bob.address)
    await bob.fetch()
    sent = capture_application_messages(alice)
    # An attacker copies bob's device state and can read what is sent now…
    stolen = GroupState.from_bytes(state_of(bob, "pcs"))
    await alice.groups.send("pcs", "before the update")
    assert stolen.process(sent[-1]).plaintext  # type: ignore[union-attr]
    assert group_texts(await bob.fetch(), "pcs") == [(alice.address, "before the update")]
    # …until bob's Update: fresh leaf and path secrets the copy does not have.
    await bob.groups.update("pcs")
    await alice.fetch()
    await alice.groups.send("pcs", "after the update")
    assert group_texts(await bob.fetch(), "pcs") == [(alice.address, "after the update")]
    with pytest.raises(EngineError):
        stolen.process(sent[-1])


async def test_a_member_who_leaves_is_removed_by_the_others(people: Any) -> None:
    alice, bob, carol = await people(3)
    await alice.groups.create("trip")
    await alice.groups.add("trip", bob.address, carol.address)
    await bob.fetch()
    await carol.fetch()
    await carol.groups.leave("trip")
    assert carol.groups.all() == []
    # Alice (lowest leaf) commits carol's removal as soon as she sees the proposal.
    await alice.fetch()
    await bob.fetch()
    assert alice.groups.info("trip").members == tuple(sorted((alice.address, bob.address)))
    assert bob.groups.info("trip").members == alice.groups.info("trip").members
    await bob.groups.send("trip", "just us")
    assert group_texts(await alice.fetch(), "trip") == [(bob.address, "just us")]
    assert group_texts(await carol.fetch(), "trip") == []


async def test_fifty_members_across_apps(people: Any) -> None:
    members = await people(50)
    creator = members[0]
    await creator.groups.create("everyone")
    # Two commits of 24 and 25 accounts (the server takes at most 64 devices each).
    await creator.groups.add("everyone", *(m.address for m in members[1:25]))
    await creator.groups.add("everyone", *(m.address for m in members[25:]))
    # Members are separate devices: they catch up side by side, as phones would.
    await asyncio.gather(*(m.fetch() for m in members[1:]))
    assert {len(m.groups.info("everyone").members) for m in members} == {50}
    # Three members commit at once; two rebase.
    await asyncio.gather(*(m.groups.update("everyone") for m in members[10:13]))
    await creator.groups.send("everyone", "hello fifty")
    await members[37].groups.send("everyone", "hello from 37")
    fetched = await asyncio.gather(*(m.fetch() for m in members))
    for member, received in zip(members, fetched, strict=True):
        got = group_texts(received, "everyone")
        expected = [
            (a.address, t)
            for a, t in ((creator, "hello fifty"), (members[37], "hello from 37"))
            if a is not member
        ]
        assert got == expected, members.index(member)
    assert len({m.groups.info("everyone").epoch for m in members}) == 1


async def test_group_messages_arrive_live_over_the_websocket(people: Any) -> None:
    alice, bob = await people(2)
    await alice.groups.create("live")
    await alice.groups.add("live", bob.address)
    arrived: asyncio.Queue[ReceivedMessage] = asyncio.Queue()

    async def follow() -> None:
        async for message in bob.listen():
            await arrived.put(message)

    listener = asyncio.create_task(follow())
    try:
        await alice.groups.send("live", "pushed")
        added = await asyncio.wait_for(arrived.get(), 20)  # the Welcome, then the name
        assert (added.event, added.group, added.sender) == ("group-added", "live", alice.address)
        message = await asyncio.wait_for(arrived.get(), 20)
        assert (message.group, message.sender, message.text) == ("live", alice.address, "pushed")
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def test_a_device_tops_up_its_key_packages_when_they_run_low(people: Any) -> None:
    alice, bob = await people(2)
    held = (await bob._transport.request("GET", KEY_PACKAGES))["key_packages"]
    assert held == TARGET
    # Every claim (someone about to add bob to a group) takes one from the directory.
    claim = {"address": bob.address, "cipher_suite": 1}
    for _ in range(TARGET - 5):
        await alice._transport.request("POST", "/v1/key-packages/claim", claim)
    status = await bob._transport.request("GET", KEY_PACKAGES)
    assert status["key_packages"] == 5 and status["low"] is True
    await bob.fetch()
    assert (await bob._transport.request("GET", KEY_PACKAGES))["key_packages"] == TARGET
    # The new ones work: bob can be added with one of them.
    await alice.groups.create("after")
    await alice.groups.add("after", bob.address)
    await bob.fetch()
    assert [g.name for g in bob.groups.all()] == ["after"]


async def test_a_key_package_that_is_not_the_devices_own_is_refused(people: Any) -> None:
    alice, bob, carol = await people(3)
    claim = {"address": bob.address, "cipher_suite": 1}
    for _ in range(TARGET):
        await alice._transport.request("POST", "/v1/key-packages/claim", claim)
    # Bob's device (or a server lying for it) offers a KeyPackage naming carol's device.
    forged = KeyPackageBundle.create(
        1, bytes(DeviceIdentity(carol.address, 1)), bob._identity.signing_key
    )
    await bob._transport.request(
        "PUT", KEY_PACKAGES, {"key_packages": [base64.b64encode(forged.public_bytes()).decode()]}
    )
    await alice.groups.create("careful")
    with pytest.raises(SecurityError, match="credential names another device"):
        await alice.groups.add("careful", bob.address)
    assert alice.groups.info("careful").members == (alice.address,)


async def test_a_message_whose_mls_sender_is_not_the_named_device_is_dropped(
    people: Any, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob, carol = await people(3)
    await alice.groups.create("named")
    await alice.groups.add("named", bob.address, carol.address)
    await bob.fetch()
    await carol.fetch()
    await alice.groups.send("named", "from alice")
    page = await bob._transport.request("GET", "/v1/messages")
    (raw,) = page["messages"]
    # The server (or anyone on the path) claims carol sent alice's message.
    forged = {**raw, "sender": carol.address, "message_id": "forged"}
    outcome = await bob._incoming.receive(forged)
    assert outcome.message is None and outcome.ack == raw["id"]
    assert "is not the device the server names" in caplog.text
    genuine = await bob._incoming.receive(raw)
    assert genuine.message is not None and genuine.message.sender == alice.address


async def test_members_update_their_keys_after_n_messages_or_t_time(
    people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await people(2)
    await alice.groups.create("pcs-policy")
    await alice.groups.add("pcs-policy", bob.address)
    await bob.fetch()
    start = alice.groups.info("pcs-policy").epoch
    monkeypatch.setattr(groups_module, "UPDATE_AFTER_MESSAGES", 3)
    for i in range(3):
        await bob.groups.send("pcs-policy", f"m{i}")
    assert bob.groups.info("pcs-policy").epoch == start
    await bob.groups.send("pcs-policy", "m3")  # the fourth message first commits an Update
    assert bob.groups.info("pcs-policy").epoch == start + 1
    got = group_texts(await alice.fetch(), "pcs-policy")
    assert [t for _, t in got] == ["m0", "m1", "m2", "m3"]
    assert alice.groups.info("pcs-policy").epoch == start + 1
    monkeypatch.setattr(groups_module, "UPDATE_AFTER_MESSAGES", 100)
    monkeypatch.setattr(groups_module, "UPDATE_AFTER_S", 0)  # time's up at once
    await alice.groups.send("pcs-policy", "later")
    assert alice.groups.info("pcs-policy").epoch == start + 2
    assert group_texts(await bob.fetch(), "pcs-policy") == [(alice.address, "later")]


async def test_every_device_of_an_account_is_a_member(people: Any, tmp_path: Path) -> None:
    alice, bob = await people(2)
    pending = await Client.begin_link(bob.server_url)
    finishing = asyncio.create_task(Client.finish_link(pending, tmp_path / "bob-2", bob.server_url))
    await bob.accept_link(pending.code_text)
    bob_phone = await finishing
    bob_phone.set_group_invites_from_anyone(True)  # a device's own setting
    try:
        await bob_phone.fetch()  # the new device uploads its KeyPackages on first contact
        await alice.fetch()
        await alice.groups.create("devices")
        info = await alice.groups.add("devices", bob.address)
        assert info.members == tuple(sorted((alice.address, bob.address)))
        await alice.groups.send("devices", "to both of bob's devices")
        for device in (bob, bob_phone):
            got = group_texts(await device.fetch(), "devices")
            assert got == [(alice.address, "to both of bob's devices")]
        await bob_phone.groups.send("devices", "from bob's phone")
        assert group_texts(await bob.fetch(), "devices") == [(bob.address, "from bob's phone")]
        assert group_texts(await alice.fetch(), "devices") == [(bob.address, "from bob's phone")]
        with pytest.raises(ClientError, match="already in"):
            await alice.groups.add("devices", bob.address)
        await alice.groups.remove("devices", bob.address)
        await bob.fetch()
        await bob_phone.fetch()
        assert bob.groups.all() == [] and bob_phone.groups.all() == []
    finally:
        await bob_phone.close()
