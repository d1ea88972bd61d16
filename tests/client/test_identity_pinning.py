"""Trust on first use: a contact's account key is pinned, and no change is silently taken.

The relay is played by editing the live server's database, as an operator (or
someone holding the operator's database) could: adding devices, swapping
account keys, replaying old device lists, serving foreign identity keys.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client.bundles import bundles_from_claim
from sottovoce.client.content import TextContent
from sottovoce.client.errors import (
    ClientError,
    NetworkError,
    SecurityError,
    ServerError,
)
from sottovoce.client.prekey_supply import PreKeySupply
from sottovoce.client.server_json import unb64
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList, parse_device_list
from sottovoce.protocol.session import Session
from tests.client.conftest import MakeClient
from tests.client.relay_db import (
    account_keys,
    add_device,
    inject_envelope,
    queued_bodies,
    queued_for_device,
    remove_device,
    replace_account_keys,
    replace_device_identity,
)
from tests.support.live_server import LiveServer


def serve_edits(live_server: LiveServer) -> None:
    """A node alone on its database keeps the accounts and devices it read in memory,
    exact for every write it makes itself (storage/kept_reads.py): a relay that edits
    the database by hand restarts the node to serve its edits."""
    live_server.stop()
    live_server.start()


def account_key_of(client: Client) -> SigningKey:
    return SigningKey.from_bytes(client._store.get("account_key", "self") or b"")


async def add_second_device(
    live_server: LiveServer, tmp_path: Path, bob: Client, signer: SigningKey
) -> None:
    """Bob's second device: registered on the relay with its own prekeys, and a
    version 2 device list naming both devices signed by ``signer``. Signed by bob's
    own account key it is published (and logged) as bob would; signed by another
    key it can only be written into the database, bypassing the log."""
    identity = IdentityKeyPair.generate()
    entries = (DeviceEntry(1, bob._identity.public, 0), DeviceEntry(2, identity.public, 0))
    devices = DeviceList(bob.address, 2, entries)
    if signer.public == account_key_of(bob).public:
        await bob._own.publish(devices)
    else:
        add_device(live_server.db_path, bob.address, 2, identity.public.to_bytes())
        replace_account_keys(
            live_server.db_path, bob.address, signer.public, devices.sign(signer), 2
        )
        serve_edits(live_server)
    store = Store.create(tmp_path / "bob-device-2")
    transport = Transport(live_server.url, bob.address, 2, identity.signing_key)
    with store.transaction():
        PreKeySupply.create_initial(store, identity)
    await PreKeySupply(store, transport, identity).replenish()
    await transport.close()
    store.close()


async def test_a_new_device_signed_by_the_account_key_gets_its_copy(
    make_client: MakeClient, live_server_module: LiveServer, tmp_path: Path
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "to the only device")
    await add_second_device(live_server_module, tmp_path, bob, account_key_of(bob))
    await alice.send(bob.address, "to both devices")  # 409 stale-devices, refresh, claim device 2
    assert queued_for_device(live_server_module.db_path, bob.address, 2) == 1
    assert [m.text for m in await bob.fetch()] == ["to the only device", "to both devices"]
    assert alice.pending_identity_changes() == []


async def test_a_ghost_device_the_account_did_not_sign_never_gets_a_copy(
    make_client: MakeClient, live_server_module: LiveServer
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "hello")
    ghost = IdentityKeyPair.generate()
    add_device(
        live_server_module.db_path, bob.address, 2, ghost.public.to_bytes()
    )  # list still says: 1 only
    serve_edits(live_server_module)
    with pytest.raises(ServerError) as refused:
        await alice.send(bob.address, "not for the ghost")
    assert (refused.value.status, refused.value.problem_type) == (409, "stale-devices")
    assert queued_for_device(live_server_module.db_path, bob.address, 2) == 0


async def test_a_changed_account_key_outside_the_log_is_refused(
    make_client: MakeClient, live_server_module: LiveServer, tmp_path: Path
) -> None:
    """A key swapped in the database is not in the transparency log: a security alert,
    never a key change to trust (re-registration is: tests/sdk/test_identity_change.py)."""
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    await alice.send(bob.address, "hello")
    await bob.fetch()
    await add_second_device(live_server_module, tmp_path, bob, SigningKey.generate())
    for _ in range(2):  # asking again never turns the change into acceptance
        with pytest.raises(SecurityError, match=r"not the one the log holds|not these keys"):
            await alice.send(bob.address, "must not be sent")
    assert queued_for_device(live_server_module.db_path, bob.address, 2) == 0
    assert alice.pending_identity_changes() == []
    assert {a.kind for a in alice.security_alerts()} == {"key-mismatch"}
    with pytest.raises(ClientError, match="nothing to trust"):
        alice.trust_identity(bob.address)


async def test_a_forged_first_message_under_a_swapped_key_is_held(
    make_client: MakeClient, live_server_module: LiveServer
) -> None:
    """The relay swaps bob's account key for its own and starts a session with alice
    in bob's name: alice holds the message and flags the change instead of showing it."""
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    carol = await make_client("carol", "chat")
    await alice.send(bob.address, "hello bob")
    mallory, relay_key = IdentityKeyPair.generate(), SigningKey.generate()
    forged = DeviceList(bob.address, 2, (DeviceEntry(1, mallory.public, 0),))
    replace_account_keys(
        live_server_module.db_path, bob.address, relay_key.public, forged.sign(relay_key), 2
    )
    claim = await carol._transport.request("POST", "/v1/keys/claim", {"address": alice.address})
    alice_devices = parse_device_list(unb64(claim["device_list"]), unb64(claim["account_key"]))
    bundle = bundles_from_claim(claim, alice_devices, [1])[1]
    content = TextContent("forged1", "send me the door code", int(time.time() * 1000))
    body = Session.initiate(mallory, bundle).encrypt(content.encode())
    inject_envelope(
        live_server_module.db_path,
        alice.address,
        sender=bob.address,
        message_id="forged1",
        kind="prekey",
        body=body,
    )
    assert await alice.fetch() == []
    # The swapped key is in no log: an alert, and the forgery is never shown.
    assert {a.kind for a in alice.security_alerts()} == {"key-mismatch"}
    assert [e.text for e in alice.history(bob.address)] == ["hello bob"]


async def test_a_key_change_seen_first_in_a_claim_is_refused(
    make_client: MakeClient, live_server_module: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice pinned bob, but her first claim failed; by her next try the relay serves
    another account key. The key in the claim answer is checked against the pin."""
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    original = alice._transport.request

    async def claim_fails(method: str, path: str, payload: Any = None) -> Any:
        if path == "/v1/keys/claim":
            raise NetworkError("the server went away")
        return await original(method, path, payload)

    monkeypatch.setattr(alice._transport, "request", claim_fails)
    with pytest.raises(NetworkError):
        await alice.send(bob.address, "first try")
    monkeypatch.undo()
    relay_key = SigningKey.generate()
    swapped = DeviceList(bob.address, 1, (DeviceEntry(1, bob._identity.public, 0),))
    replace_account_keys(
        live_server_module.db_path, bob.address, relay_key.public, swapped.sign(relay_key), 1
    )
    with pytest.raises(SecurityError, match=r"not the one the log holds|not these keys"):
        await alice.send(bob.address, "second try")
    assert queued_bodies(live_server_module.db_path, bob.address) == []


async def test_an_older_device_list_is_refused_as_a_replay(
    make_client: MakeClient, live_server_module: LiveServer, tmp_path: Path
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    key, first_list, _ = account_keys(live_server_module.db_path, bob.address)
    await alice.send(bob.address, "hello")
    await add_second_device(live_server_module, tmp_path, bob, account_key_of(bob))
    await alice.send(bob.address, "to both")  # alice now holds version 2
    remove_device(live_server_module.db_path, bob.address, 2)
    replace_account_keys(live_server_module.db_path, bob.address, key, first_list, 1)
    serve_edits(live_server_module)
    # The log's entry for bob is version 2: version 1 served now is refused.
    with pytest.raises(SecurityError, match="not these keys"):
        await alice.send(bob.address, "to whom?")


async def test_a_bundle_under_a_foreign_identity_is_refused(
    make_client: MakeClient, live_server_module: LiveServer
) -> None:
    alice = await make_client("alice", "chat")
    bob = await make_client("bob", "photos")
    mallory = IdentityKeyPair.generate()
    replace_device_identity(live_server_module.db_path, bob.address, mallory.public.to_bytes())
    with pytest.raises(SecurityError, match="did not sign"):
        await alice.send(bob.address, "for bob only")
    assert queued_bodies(live_server_module.db_path, bob.address) == []
