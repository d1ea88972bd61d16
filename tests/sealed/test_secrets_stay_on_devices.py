"""Profile keys, access keys and the franking keys of unreported messages never reach
the server: its database files and log are searched for them, in several encodings."""

from __future__ import annotations

import base64

import pytest

from sottovoce.client import Client
from sottovoce.protocol.public.unidentified_access import (
    access_key_digest,
    unidentified_access_key,
)
from tests.sealed.conftest import MakeClient, contacts
from tests.support.live_server import LiveServer


def server_bytes(relay: LiveServer) -> bytes:
    files = [relay.db_path, relay.log_path]
    files += [relay.db_path.with_name(relay.db_path.name + s) for s in ("-wal", "-shm")]
    return b"\x00".join(p.read_bytes() for p in files if p.exists())


def forms(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), base64.b64encode(secret), base64.b64encode(secret)[:-4]]


def franking_keys(client: Client) -> list[bytes]:
    return [
        base64.b64decode(str(record["franking_key"]))
        for record in client._store.all_json("franking")
    ]


# It searches the bytes of the SQLite file and its -wal; on PostgreSQL the same
# rows are in a data directory of another user, with pages of other databases.
@pytest.mark.sqlite_only
async def test_the_server_never_holds_a_profile_access_or_franking_key(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    await alice.send(bob.address, "sealed to bob")
    await bob.send(alice.address, "sealed to alice")
    await bob.fetch()
    await alice.fetch()
    secrets = []
    for client in (alice, bob):
        profile_key = client._sealed.profile_key()
        secrets += [profile_key, unidentified_access_key(profile_key)]
        secrets += franking_keys(client)
    assert len(secrets) >= 8
    held = server_bytes(relay)
    for secret in secrets:
        for form in forms(secret):
            assert form not in held
    # Positive control: what the server does hold, the same search finds.
    assert access_key_digest(unidentified_access_key(alice._sealed.profile_key())) in held
    assert bob._sealed.contact_key(alice.address) == alice._sealed.profile_key()
