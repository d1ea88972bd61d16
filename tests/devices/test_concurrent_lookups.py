"""Lookups a device makes at once each follow the log: none loses another's view."""

from __future__ import annotations

import asyncio

from tests.devices.conftest import MakeClient

# Within the daily limit on new recipients (20).
CONTACTS = 18


async def test_concurrent_lookups_of_new_accounts_raise_no_alert(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    # Accounts alice's device has not seen in the log yet: each lookup needs a newer
    # head, so each follows the log while the others do.
    contacts = [await make_client(f"c{i}") for i in range(CONTACTS)]
    await asyncio.gather(*(alice.send(c.address, "hello") for c in contacts))
    assert alice.security_alerts() == []
    for contact in contacts:
        assert [m.text for m in await contact.fetch()] == ["hello"]
