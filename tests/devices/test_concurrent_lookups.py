"""Lookups a device makes at once each follow the log: none loses another's view.

Each lookup of an account the device has not seen in the log yet needs a newer
head (often one the server signs for that lookup), so the device follows the log
in several tasks at once; a task that saved an older view over a newer one made
another find "no entry" for an account the log holds (a false security alert).
"""

from __future__ import annotations

import asyncio

from sottovoce.client import Client
from tests.support.people import MakeClient

# 10 + 8 new recipients: within the daily limit on new recipients (20).
CREATED_WHILE_LOOKING = 10
CREATED_BEFORE = 8


async def test_concurrent_lookups_of_new_accounts_raise_no_alert(make_client: MakeClient) -> None:
    alice = await make_client("alice")

    async def new_contact(name: str) -> Client:
        contact = await make_client(name)
        await alice.send(contact.address, "hello")
        return contact

    contacts = list(
        await asyncio.gather(*(new_contact(f"w{i}") for i in range(CREATED_WHILE_LOOKING)))
    )
    more = [await make_client(f"b{i}") for i in range(CREATED_BEFORE)]
    await asyncio.gather(*(alice.send(c.address, "hello") for c in more))
    assert alice.security_alerts() == []
    for contact in contacts + more:
        assert [m.text for m in await contact.fetch()] == ["hello"]
