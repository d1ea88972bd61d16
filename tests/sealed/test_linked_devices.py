"""Sealed sender with linked devices: the recipient's copies are sealed, this
account's other devices get theirs in a separate signed request under another id,
so the stored rows do not link the sealed message to its sender."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sottovoce.client import Client
from tests.sealed.conftest import MakeClient, contacts, queued_rows
from tests.support.live_server import LiveServer


async def link(existing: Client, profile: Path, server_url: str) -> Client:
    pending = await Client.begin_link(server_url)
    finishing = asyncio.create_task(Client.finish_link(pending, profile, server_url))
    await existing.accept_link(pending.code_text)
    return await finishing


async def test_a_sealed_send_from_a_linked_account(
    make_client: MakeClient, relay: LiveServer, tmp_path: Path
) -> None:
    alice, bob = await contacts(make_client)
    alice_phone = await link(alice, tmp_path / f"phone-{secrets.token_hex(3)}", relay.url)
    try:
        await alice_phone.fetch()  # whatever the link left for it
        sent = await alice.send(bob.address, "sealed, and synced to my phone")
        (to_bob,) = queued_rows(relay, bob)
        (to_phone,) = [
            r for r in queued_rows(relay, alice_phone) if r["message_id"] == sent.message_id
        ]
        assert to_bob["type"] == "sealed" and to_bob["sender"] == ""
        assert to_phone["sender"] == alice.address and to_phone["type"] != "sealed"
        assert to_bob["message_id"] != to_phone["message_id"]
        assert to_bob["commitment"] is not None and to_phone["commitment"] is None
        assert [m.text for m in await bob.fetch()] == ["sealed, and synced to my phone"]
        await alice_phone.fetch()
        entries = alice_phone.history(bob.address)
        assert [e.text for e in entries if e.direction == "out"][-1] == (
            "sealed, and synced to my phone"
        )
        # Both devices hold the same profile key (derived from the account key), so
        # the phone writing to bob does not lock bob out of sealing to alice.
        assert alice_phone._sealed.profile_key() == alice._sealed.profile_key()
        # Linking carried bob's profile key (tests/sealed/test_linked_profile_keys.py):
        # the phone's first message to him is sealed too.
        await alice_phone.send(bob.address, "from my phone")
        assert [r["sender"] for r in queued_rows(relay, bob)] == [""]
        assert [m.text for m in await bob.fetch()] == ["from my phone"]
        await bob.send(alice.address, "still sealed to both of you")
        # The newest row of each of alice's devices: bob's message, sealed to both.
        assert queued_rows(relay, alice)[-1]["type"] == "sealed"
        assert queued_rows(relay, alice_phone)[-1]["type"] == "sealed"
        assert [m.text for m in await alice_phone.fetch()] == ["still sealed to both of you"]
        await alice_phone.send(bob.address, "sealed from my phone now")
        assert [r["type"] for r in queued_rows(relay, bob)] == ["sealed"]
    finally:
        await alice_phone.close()
