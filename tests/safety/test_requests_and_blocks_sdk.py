"""Message requests and blocking through the SDK, on the real server process."""

from __future__ import annotations

import pytest

from sottovoce.client.errors import ClientError
from tests.safety.sdk import MakeClient, make_client, safety_server

__all__ = ["make_client", "safety_server"]


async def test_a_strangers_first_message_is_a_request(make_client: MakeClient) -> None:
    stranger = await make_client("stranger")
    bob = await make_client("bob", "photos")
    await stranger.send(bob.address, "hi, we have not met")
    [received] = await bob.fetch()
    assert bob.is_request(stranger.address)
    assert [r.peer for r in bob.requests()] == [stranger.address]
    assert bob.requests()[0].last_text == "hi, we have not met"
    assert [c.request for c in bob.conversations()] == [True]
    # The stranger learns nothing: nothing comes back to it, not even a receipt.
    assert await stranger.fetch() == []
    assert received.text == "hi, we have not met"


async def test_accepting_moves_it_to_the_conversations(make_client: MakeClient) -> None:
    stranger = await make_client("stranger")
    bob = await make_client("bob")
    await stranger.send(bob.address, "first")
    await bob.fetch()
    await bob.accept_request(stranger.address)
    assert bob.requests() == []
    assert [(c.peer, c.request) for c in bob.conversations()] == [(stranger.address, False)]
    await stranger.send(bob.address, "second")
    await bob.fetch()
    assert not bob.is_request(stranger.address)
    assert [e.text for e in bob.history(stranger.address)] == ["first", "second"]


async def test_replying_is_accepting(make_client: MakeClient) -> None:
    stranger = await make_client("stranger")
    bob = await make_client("bob")
    await stranger.send(bob.address, "hello?")
    await bob.fetch()
    await bob.send(stranger.address, "hello!")
    assert bob.requests() == []
    assert [m.text for m in await stranger.fetch()] == ["hello!"]
    # The one who wrote first never sees its own conversation as a request.
    assert stranger.requests() == []


async def test_deleting_a_request_removes_its_messages(make_client: MakeClient) -> None:
    stranger = await make_client("stranger")
    bob = await make_client("bob")
    await stranger.send(bob.address, "buy my thing")
    await bob.fetch()
    bob.delete_request(stranger.address)
    assert bob.requests() == []
    assert bob.history(stranger.address) == []
    # Writing again opens a new request; the sender was never told anything.
    await stranger.send(bob.address, "really, buy it")
    await bob.fetch()
    assert [r.peer for r in bob.requests()] == [stranger.address]
    assert [e.text for e in bob.history(stranger.address)] == ["really, buy it"]
    with pytest.raises(ClientError):
        bob.delete_request("nobody@chat")


async def test_a_blocked_accounts_messages_are_never_shown(make_client: MakeClient) -> None:
    pest = await make_client("pest")
    bob = await make_client("bob")
    await pest.send(bob.address, "one")
    await bob.fetch()
    await bob.block(pest.address)
    assert bob.requests() == []  # blocking a request deletes it
    await pest.send(bob.address, "two")
    await pest.send(bob.address, "three")
    assert await bob.fetch() == []
    assert bob.history(pest.address) == []
    # Dropped, not held: the server's queue for bob is empty again.
    assert await bob.fetch() == []
    assert [b.address for b in bob.blocked()] == [pest.address]


async def test_a_contact_blocked_cannot_write_sealed_either(make_client: MakeClient) -> None:
    """After a conversation the contact holds bob's profile key and writes sealed;
    blocking rotates it, and whatever still arrives is dropped."""
    friend = await make_client("friend")
    bob = await make_client("bob")
    await friend.send(bob.address, "hi")
    await bob.fetch()
    await bob.send(friend.address, "hi back")
    await friend.fetch()
    await friend.send(bob.address, "sealed now")
    assert [m.text for m in await bob.fetch()] == ["sealed now"]
    await bob.block(friend.address)
    await friend.send(bob.address, "after the block")
    assert await bob.fetch() == []


async def test_unblocking_lets_messages_through(make_client: MakeClient) -> None:
    pest = await make_client("pest")
    bob = await make_client("bob")
    await bob.block(pest.address, report=True)
    await pest.send(bob.address, "while blocked")
    await bob.unblock(pest.address)
    await pest.send(bob.address, "after unblocking")
    # The reported block made the server drop the first; the second arrives.
    assert [m.text for m in await bob.fetch()] == ["after unblocking"]
    with pytest.raises(ClientError):
        await bob.unblock(pest.address)


async def test_a_block_holds_against_a_new_device_of_the_blocked_account(
    make_client: MakeClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Evading a block by linking a new device fails: blocks name accounts."""
    from sottovoce.client import Client

    pest = await make_client("pest")
    bob = await make_client("bob")
    await bob.block(pest.address)
    pending = await Client.begin_link(pest.server_url)
    linking = pest.accept_link(pending.code_text)
    new_device = Client.finish_link(
        pending, tmp_path_factory.mktemp("linked") / "pest-2", pest.server_url
    )
    import asyncio

    _, second = await asyncio.gather(linking, new_device)
    try:
        assert second.device_id != pest.device_id
        await second.send(bob.address, "from my new phone")
        assert await bob.fetch() == []
        assert bob.history(pest.address) == []
    finally:
        await second.close()


async def test_a_blocked_accounts_group_messages_are_not_handed_out(
    make_client: MakeClient,
) -> None:
    alice = await make_client("alice")
    pest = await make_client("pest")
    bob = await make_client("bob")
    await bob.send(alice.address, "add me to the street group")  # so no group request
    await alice.groups.create("street")
    await alice.groups.add("street", pest.address, bob.address)
    await pest.fetch()
    await bob.fetch()
    await bob.block(pest.address)
    await pest.groups.send("street", "from the blocked one")
    await alice.groups.send("street", "from alice")
    texts = [m.text for m in await bob.fetch() if m.group is not None]
    assert texts == ["from alice"]
    # Those who did not block still get it.
    assert [m.text for m in await alice.fetch() if m.group is not None] == ["from the blocked one"]
