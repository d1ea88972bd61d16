"""Linking hands over the profile keys: the account's own and every contact's travel
inside the encrypted provisioning message, so a newly linked device sends sealed from
its very first message (Signal's linked devices do the same)."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.sealed.conftest import MakeClient, contacts, queued_rows
from tests.sealed.test_linked_devices import link
from tests.support.live_server import LiveServer


async def test_a_freshly_linked_devices_first_message_to_a_contact_is_sealed(
    make_client: MakeClient, relay: LiveServer, tmp_path: Path
) -> None:
    alice, bob = await contacts(make_client)
    phone = await link(alice, tmp_path / f"phone-{secrets.token_hex(3)}", relay.url)
    try:
        # Nothing fetched, nothing received from bob on this device: only what the
        # provisioning message carried.
        assert phone._sealed.profile_key() == alice._sealed.profile_key()
        assert phone._sealed.contact_key(bob.address) == alice._sealed.contact_key(bob.address)
        await phone.send(bob.address, "first words from my phone")
        (row,) = queued_rows(relay, bob)
        assert row["type"] == "sealed"
        assert (row["sender"], row["sender_device"], row["sender_device_pk"]) == ("", 0, 0)
        (received,) = await bob.fetch()
        assert (received.sender, received.sender_device, received.text) == (
            alice.address,
            phone.device_id,
            "first words from my phone",
        )
    finally:
        await phone.close()


async def test_a_rotated_profile_key_is_what_the_linked_device_gets(
    make_client: MakeClient, relay: LiveServer, tmp_path: Path
) -> None:
    alice, bob = await contacts(make_client)
    await alice._sealed.rotate_profile_key()
    phone = await link(alice, tmp_path / f"phone-{secrets.token_hex(3)}", relay.url)
    try:
        assert phone._sealed.profile_key() == alice._sealed.profile_key()
        # The phone's messages carry the rotated key, so bob keeps sealing to alice.
        await phone.send(bob.address, "my new key rides along")
        assert [m.text for m in await bob.fetch()] == ["my new key rides along"]
        await bob.send(alice.address, "sealed to the new key")
        assert queued_rows(relay, alice)[-1]["type"] == "sealed"
    finally:
        await phone.close()
