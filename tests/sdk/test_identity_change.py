"""A contact's identity key changes: nothing is sent to, or taken from, the new key
until the person accepts it with trust_identity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.contacts import CONTACT
from sottovoce.client.errors import ClientError, IdentityChanged
from sottovoce.client.server_json import b64
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from tests.sdk.conftest import MakeClient, texts
from tests.support.live_server import LiveServer


def pin_another_key(client: Client, peer: str) -> None:
    """Overwrite the pinned record of ``peer`` with a self-consistent one for keys the
    peer never had: from then on the server's (real) key is a change."""
    key = SigningKey.generate()
    devices = DeviceList(peer, 1, (DeviceEntry(1, IdentityKeyPair.generate().public, 0),))
    with client._store.transaction():
        client._store.put_json(
            CONTACT,
            peer,
            {"address": peer, "key": b64(key.public), "device_list": b64(devices.sign(key))},
        )


def forget_account(db_path: Path, address: str) -> None:
    """The operator resets an account (its person reinstalled and lost the keys), so
    the handle can be registered again with new keys."""
    handle, app = address.split("@")
    with sqlite3.connect(db_path, timeout=10) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        deleted = conn.execute(
            "DELETE FROM accounts WHERE app = ? AND handle = ?", (app, handle)
        ).rowcount
    assert deleted == 1


async def queued_for(client: Client) -> list[str]:
    page = await client._transport.request("GET", "/v1/messages")
    return [m["sender"] for m in page["messages"]]


async def test_sending_to_a_changed_key_is_refused_until_trusted(
    make_client: MakeClient,
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "pinned you")
    assert await texts(bob) == ["pinned you"]

    pin_another_key(alice, bob.address)
    with pytest.raises(IdentityChanged) as refused:
        await alice.send(bob.address, "must not leave")
    assert refused.value.address == bob.address
    assert alice.pending_identity_changes() == [bob.address]
    with pytest.raises(IdentityChanged):
        await alice.send(bob.address, "still must not leave")
    assert await bob.fetch() == []
    assert [e.text for e in alice.history(bob.address)] == ["pinned you"]

    alice.trust_identity(bob.address)
    assert alice.pending_identity_changes() == []
    await alice.send(bob.address, "after checking your key")
    assert await texts(bob) == ["after checking your key"]
    with pytest.raises(ClientError, match="nothing to trust"):
        alice.trust_identity(bob.address)


async def test_messages_from_a_changed_identity_wait_on_the_server_until_trusted(
    sdk_server: LiveServer, tmp_path: Path, make_client: MakeClient
) -> None:
    alice = await make_client("alice")
    old_bob = await make_client("bob", "photos")
    await alice.send(old_bob.address, "hello old bob")
    assert await texts(old_bob) == ["hello old bob"]
    await old_bob.send(alice.address, "hello alice")
    assert await texts(alice) == ["hello alice"]

    forget_account(sdk_server.db_path, old_bob.address)
    handle = old_bob.address.split("@")[0]
    new_bob = await Client.create_account(tmp_path / "new-bob", sdk_server.url, "photos", handle)
    try:
        await new_bob.send(alice.address, "it's me, on a new phone")

        # Held: not shown, not acknowledged, not dropped.
        assert await alice.fetch() == []
        assert alice.pending_identity_changes() == [new_bob.address]
        assert await queued_for(alice) == [new_bob.address]
        assert await alice.fetch() == []
        with pytest.raises(IdentityChanged):
            await alice.send(new_bob.address, "are you really bob?")
        assert await new_bob.fetch() == []

        alice.trust_identity(new_bob.address)
        (held,) = await alice.fetch()
        assert (held.sender, held.text) == (new_bob.address, "it's me, on a new phone")
        assert await queued_for(alice) == []
        await alice.send(new_bob.address, "welcome back")
        assert await texts(new_bob) == ["welcome back"]
        assert [(e.direction, e.text) for e in alice.history(new_bob.address)] == [
            ("out", "hello old bob"),
            ("in", "hello alice"),
            ("in", "it's me, on a new phone"),
            ("out", "welcome back"),
        ]
    finally:
        await new_bob.close()
