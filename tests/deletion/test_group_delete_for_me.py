"""A group's "delete for me" reaches the person's other devices, as a one-to-one
one does (``client.own_sync``): Alice deletes on her phone, her laptop removes the
same messages (hers and Bob's), Bob keeps his copies; offline, it waits in the
outbox and reaches the laptop once the server is back. Real server process."""

from __future__ import annotations

import base64
import json

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ClientError, InvalidMessage
from sottovoce.client.group_chat import history_peer
from sottovoce.client.own_sync import OUTBOX
from sottovoce.client.sync_content import DeleteForMeSync, decode_sync
from tests.deletion.conftest import GROUP
from tests.support.live_server import LiveServer

Trio = tuple[Client, Client, Client]


def _texts(client: Client) -> list[str]:
    return [m.text for m in client.groups.history(GROUP)]


async def test_delete_for_me_in_a_group_reaches_the_other_device_only(
    alice_on_two_devices: Trio,
) -> None:
    alice, laptop, bob = alice_on_two_devices
    mine = await alice.groups.send(GROUP, "alice's slip")
    await bob.groups.send(GROUP, "bob's slip")
    await alice.groups.send(GROUP, "this stays")
    for device in (laptop, alice, bob):
        await device.fetch()
    assert _texts(laptop) == ["alice's slip", "bob's slip", "this stays"]
    theirs = next(m for m in alice.groups.history(GROUP) if m.text == "bob's slip")
    heard: list[str] = []
    laptop.groups.on_update = heard.append
    laptop.on_update = heard.append

    await alice.groups.delete_for_me(GROUP, mine.message_id)
    await alice.groups.delete_for_me(GROUP, theirs.message_id)
    assert _texts(alice) == ["this stays"]
    assert await laptop.fetch() == []
    assert _texts(laptop) == ["this stays"]
    assert heard == [f"#{GROUP}", f"#{GROUP}"]  # the app redraws the group's view
    assert await bob.fetch() == []
    assert sorted(_texts(bob)) == ["alice's slip", "bob's slip", "this stays"]
    # Nothing left waiting, and nothing deleted twice.
    assert alice._store.all_json(OUTBOX) == []
    with pytest.raises(ClientError, match="no message"):
        await laptop.groups.delete_for_me(GROUP, mine.message_id)


@pytest.mark.own_server
async def test_offline_it_happens_at_once_and_reaches_the_laptop_later(
    alice_on_two_devices: Trio, server: LiveServer
) -> None:
    alice, laptop, _ = alice_on_two_devices
    sent = await alice.groups.send(GROUP, "deleted on the train")
    await laptop.fetch()
    server.stop()
    await alice.groups.delete_for_me(GROUP, sent.message_id)
    # Gone here at once; the sync message waits in the outbox.
    assert _texts(alice) == []
    assert len(alice._store.all_json(OUTBOX)) == 1
    server.start()
    await alice.fetch()  # the next fetch sends it
    assert alice._store.all_json(OUTBOX) == []
    await laptop.fetch()
    assert _texts(laptop) == []


def test_the_sync_names_the_group_by_its_id_and_hostile_ones_are_refused() -> None:
    group_id = bytes(range(32))
    sync = DeleteForMeSync("sync-1", history_peer(group_id), ("m-1", "m-2"))
    wire = json.loads(sync.encode())
    assert wire["group"] == base64.b64encode(group_id).decode() and "peer" not in wire
    assert decode_sync(sync.encode()) == sync

    def hostile(**fields: object) -> bytes:
        return json.dumps({**wire, **fields}).encode()

    for value, complaint in (
        ("not base64!", "not base64"),
        ("", "1 to 64 bytes"),
        (base64.b64encode(bytes(65)).decode(), "1 to 64 bytes"),
        (7, "not base64"),
    ):
        with pytest.raises(InvalidMessage, match=complaint):
            decode_sync(hostile(group=value))
    with pytest.raises(InvalidMessage, match="message ids"):
        decode_sync(hostile(ids=["m-1", "no/slash"]))
