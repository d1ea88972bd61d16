"""Group invites from strangers are message requests (docs/safety.md): the
group's messages are held until the person accepts; declining leaves the group.
An invite from a contact, or from another device of one's own account, is not."""

from __future__ import annotations

import pytest

from sottovoce.client.errors import ClientError
from tests.safety.sdk import MakeClient, make_client, safety_server

__all__ = ["make_client", "safety_server"]


async def test_a_strangers_group_is_held_until_accepted(make_client: MakeClient) -> None:
    spammer = await make_client("spammer")
    person = await make_client("person")
    await spammer.groups.create("crypto deals")
    await spammer.groups.add("crypto deals", person.address)
    await spammer.groups.send("crypto deals", "buy now")
    await spammer.groups.send("crypto deals", "last chance")

    # Only the notice of the request is handed out, none of the group's messages.
    (notice,) = await person.fetch()
    assert notice.event == "group-added" and "message request" in notice.text
    (request,) = person.group_requests()
    assert request.invited_by == spammer.address
    assert request.group == "crypto deals"
    assert request.held == 2

    person.accept_group_request("crypto deals")
    assert person.group_requests() == []
    held = [m.text for m in person.groups.history("crypto deals")]
    assert held == ["buy now", "last chance"]
    await spammer.groups.send("crypto deals", "welcome aboard")
    assert [m.text for m in await person.fetch()] == ["welcome aboard"]


async def test_declining_leaves_the_group_and_forgets_its_messages(
    make_client: MakeClient,
) -> None:
    spammer = await make_client("raider")
    person = await make_client("target")
    await spammer.groups.create("raid")
    await spammer.groups.add("raid", person.address)
    await spammer.groups.send("raid", "hello victim")
    await person.fetch()

    await person.decline_group_request("raid")
    assert person.group_requests() == []
    assert person.groups.all() == []
    # The inviter's side sees the departure (a member commits it) and later
    # messages no longer reach the person.
    await spammer.fetch()
    assert spammer.groups.info("raid").members == (spammer.address,)
    await spammer.groups.send("raid", "are you there?")
    assert await person.fetch() == []
    with pytest.raises(ClientError):
        await person.decline_group_request("raid")


async def test_a_contacts_group_is_no_request(make_client: MakeClient) -> None:
    friend = await make_client("friend")
    person = await make_client("person")
    await person.send(friend.address, "hi, add me to the book club")
    await friend.fetch()
    await friend.groups.create("book club")
    await friend.groups.add("book club", person.address)
    await friend.groups.send("book club", "chapter 3 tonight")
    texts = [m.text for m in await person.fetch() if m.event is None]
    assert texts == ["chapter 3 tonight"]
    assert person.group_requests() == []


async def test_later_messages_stay_held_and_counted_until_an_answer(
    make_client: MakeClient,
) -> None:
    stranger = await make_client("stranger")
    person = await make_client("someone")
    await stranger.groups.create("club")
    await stranger.groups.add("club", person.address)
    await stranger.groups.send("club", "first")
    await person.fetch()
    with pytest.raises(ClientError):
        person.accept_group_request("no such group")
    await stranger.groups.send("club", "second")
    assert await person.fetch() == []
    assert [r.held for r in person.group_requests()] == [2]


async def test_a_person_may_let_anyone_add_them(make_client: MakeClient) -> None:
    """WhatsApp's "who can add me to groups: everyone"; off by default."""
    organiser = await make_client("organiser")
    person = await make_client("open")
    assert not person.group_invites_from_anyone()
    person.set_group_invites_from_anyone(True)
    await organiser.groups.create("street party")
    await organiser.groups.add("street party", person.address)
    await organiser.groups.send("street party", "bring chairs")
    texts = [m.text for m in await person.fetch() if m.event is None]
    assert texts == ["bring chairs"]
    assert person.group_requests() == []
