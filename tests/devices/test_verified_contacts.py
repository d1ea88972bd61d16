"""Safety numbers between accounts, and a verified contact whose devices change."""

from __future__ import annotations

import pytest

from sottovoce.client.safety import VerificationRequired
from tests.support.people import LinkDevice, MakeClient


async def test_both_people_read_the_same_number(make_client: MakeClient) -> None:
    alice, bob = await make_client("alice"), await make_client("bob", "photos")
    ours, theirs = await alice.safety_number(bob.address), await bob.safety_number(alice.address)
    assert ours.digits() == theirs.digits()
    ours.check_scanned(theirs.scannable())


async def test_a_new_device_of_a_verified_contact_blocks_sending_until_confirmed(
    make_client: MakeClient, link_device: LinkDevice
) -> None:
    alice, bob = await make_client("alice"), await make_client("bob", "photos")
    verified = await alice.safety_number(bob.address)
    alice.mark_verified(bob.address, verified)
    await alice.send(bob.address, "verified and sent")
    await link_device(bob)
    with pytest.raises(VerificationRequired):
        await alice.send(bob.address, "who else is reading?")
    changed = await alice.safety_number(bob.address)
    assert changed.digits() != verified.digits()
    alice.mark_verified(bob.address, changed)  # compared again with bob
    await alice.send(bob.address, "checked again")
    assert [m.text for m in await bob.fetch()] == ["verified and sent", "checked again"]


async def test_an_unverified_contact_is_never_blocked(
    make_client: MakeClient, link_device: LinkDevice
) -> None:
    alice, bob = await make_client("alice"), await make_client("bob", "photos")
    await alice.send(bob.address, "one")
    await link_device(bob)
    await alice.send(bob.address, "two")
    assert not alice.is_verified(bob.address)
